"""What a reconcile reads from the watch indexes: pod summaries, track states, wake-ups."""

from __future__ import annotations

import asyncio

from mlops_operator import names
from mlops_operator.domain.rollout import TRACKS, track_states
from mlops_operator.handlers.wakeups import Wakeups, sleep_until_woken
from mlops_operator.handlers.watches import summarize_pod


def pod(name: str, track: str, version: str, ready: bool, **extra: object) -> dict:
    meta = {"name": name, "labels": {"mlops.dev/deployment": "iris", "mlops.dev/track": track,
                                     "mlops.dev/model-version": version}, **extra}
    status = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return summarize_pod(meta, status)


def test_summary_carries_why_a_container_is_not_running() -> None:
    status = {"containerStatuses": [{
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
        "lastState": {"terminated": {"reason": "Error", "message": "model checksum mismatch"}},
    }]}
    summary = summarize_pod({"name": "p", "labels": {}}, status)
    assert (summary.waiting_reason, summary.terminated_message) == (
        "CrashLoopBackOff", "model checksum mismatch")
    assert not summary.ready


def test_track_state_is_the_majority_version_of_ready_pods() -> None:
    pods = [
        pod("a", "stable", "iris-v1", True),
        pod("b", "stable", "iris-v1", True),
        pod("c", "stable", "iris-v2", True),
        pod("d", "canary", "iris-v2", False),
        pod("e", "canary", "iris-v2", True, deletionTimestamp="2026-01-01T00:00:00Z"),
    ]
    states = track_states(pods)
    assert (states["stable"].version, states["stable"].ready_replicas) == ("iris-v1", 2)
    assert (states["canary"].version, states["canary"].ready_replicas) == ("iris-v2", 0)
    assert track_states([])["canary"].version is None


def test_the_domain_knows_the_track_label_values_the_workloads_carry() -> None:
    assert TRACKS == names.TRACKS


def test_wake_reaches_only_the_registered_loop_and_is_not_lost() -> None:
    async def scenario() -> tuple[bool, bool, bool, bool]:
        wakeups = Wakeups()
        event = wakeups.register(("ns", "iris"))
        unknown = wakeups.wake(("ns", "other"))
        timed_out = await sleep_until_woken(event, 0.01)
        # A wake that arrives while the loop is busy is kept for its next sleep.
        known = wakeups.wake(("ns", "iris"))
        woken = await sleep_until_woken(event, 5.0)
        wakeups.unregister(("ns", "iris"))
        return unknown, timed_out, known, woken and not event.is_set()

    assert asyncio.run(scenario()) == (False, False, True, True)
