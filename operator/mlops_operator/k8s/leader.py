"""Leader election on a coordination.k8s.io Lease: one active replica, the others wait.

Two or more operator replicas may run; only the holder of the Lease starts kopf.
A standby takes over once the holder stops renewing (it crashed or its node
went away): at most ``LEASE_SECONDS`` plus one retry after the last renewal. A
holder that cannot renew exits at once, so two replicas never act together;
its pod restarts as a standby (the controller-runtime convention).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

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
