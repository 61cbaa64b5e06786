"""Leader election on a coordination.k8s.io Lease: one active replica, the others wait.

Two or more operator replicas may run; only the holder of the Lease starts kopf.
A standby takes over once the holder stops renewing (it crashed or its node
went away): at most ``LEASE_SECONDS`` plus one retry after the last renewal; a
holder that stops gracefully (a rolling update) gives the Lease up, so a standby
takes over at its next retry. A holder that cannot renew exits at once, so two
replicas never act together; its pod restarts as a standby (the controller-runtime
convention).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from mlops_operator.k8s.api import api_client

LEASE_NAME = "mlops-operator"
LEASE_SECONDS = 8
RENEW_DEADLINE_SECONDS = 6
RETRY_SECONDS = 2
log = logging.getLogger(__name__)


def _exit_now() -> None:
    log.error("lost the leader Lease; exiting so that a standby takes over alone")
    os._exit(1)


def await_leadership(namespace: str, identity: str,
                     on_lost: Callable[[], None] = _exit_now) -> None:
    """Block until this process holds the Lease; keep renewing it in the background."""
    api_client()  # loads in-cluster or kubeconfig credentials for the lock's client
    leading = threading.Event()
    config = electionconfig.Config(
        LeaseLock(LEASE_NAME, namespace, identity),
        lease_duration=LEASE_SECONDS,
        renew_deadline=RENEW_DEADLINE_SECONDS,
        retry_period=RETRY_SECONDS,
        onstarted_leading=leading.set,
        onstopped_leading=on_lost,
    )
    log.info("%s: waiting for the Lease %s/%s", identity, namespace, LEASE_NAME)
    threading.Thread(target=leaderelection.LeaderElection(config).run, daemon=True,
                     name="leader-election").start()
    leading.wait()
    log.info("%s: holds the Lease %s/%s; starting", identity, namespace, LEASE_NAME)


def release(namespace: str, identity: str) -> None:
    """Give the Lease up after a graceful stop (controller-runtime's ReleaseOnCancel): an
    empty holder lets a standby take it at its next retry instead of after the Lease runs
    out. The replace carries the read's resourceVersion, so a Lease someone else took
    meanwhile is left alone."""
    api = client.CoordinationV1Api(api_client())
    try:
        lease = api.read_namespaced_lease(LEASE_NAME, namespace)
        if lease.spec is None or lease.spec.holder_identity != identity:
            return
        lease.spec.holder_identity = ""
        api.replace_namespaced_lease(LEASE_NAME, namespace, lease)
        log.info("%s: gave up the Lease %s/%s", identity, namespace, LEASE_NAME)
    except ApiException as error:
        log.warning("%s: could not give up the Lease: %s", identity, error.reason)
