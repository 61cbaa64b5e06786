"""The per-Deployment series: what each Deployment's status says now, and nothing stale."""

from __future__ import annotations

from typing import Any

from mlops_operator.metrics import REGISTRY, RolloutGauges

KEY = {"namespace": "gauge-test", "deployment": "iris"}  # no other test's series


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {**KEY, **labels})


def _infos() -> list[dict[str, str]]:
    return [dict(s.labels) for m in REGISTRY.collect() if m.name == "mlops_operator_rollout_info"
            for s in m.samples if s.labels.get("namespace") == "gauge-test"]


CANARY: dict[str, Any] = {
    "phase": "Progressing", "stableVersion": "iris-v1", "canaryVersion": "iris-v2",
    "currentStepIndex": 1, "effectiveWeight": 50,
    "lastAnalysis": {"checks": [{"name": "error-rate", "lastValue": 0.01},
                                {"name": "latency", "lastValue": None}]},
    "conditions": [{"type": "Ready", "lastTransitionTime": "2026-12-04T10:00:00Z"},
                   {"type": "Reconciling", "lastTransitionTime": "2026-12-04T10:05:00Z"}]}


def test_a_canary_in_flight_shows_its_phase_weight_step_and_check_values() -> None:
    gauges = RolloutGauges()
    gauges.update("gauge-test", "iris", CANARY)
    try:
        assert _infos() == [{**KEY, "phase": "Progressing", "stable_version": "iris-v1",
                             "canary_version": "iris-v2"}]
        assert _value("mlops_operator_rollout_weight") == 50
        assert _value("mlops_operator_rollout_step") == 1
        assert _value("mlops_operator_rollout_check_value", check="error-rate") == 0.01
        assert _value("mlops_operator_rollout_check_value", check="latency") is None  # no data
        # A restarted operator dates the phase from the newest condition transition.
        assert _value("mlops_operator_rollout_phase_start_timestamp_seconds") == 1796378700.0
    finally:
        gauges.forget("gauge-test", "iris")


def test_a_promoted_rollout_leaves_no_stale_label_set_and_a_deleted_one_no_series() -> None:
    gauges = RolloutGauges()
    gauges.update("gauge-test", "iris", CANARY)
    since = _value("mlops_operator_rollout_phase_start_timestamp_seconds")
    gauges.update("gauge-test", "iris", {"phase": "Healthy", "stableVersion": "iris-v2",
                                 "effectiveWeight": 0, "currentStepIndex": 2})
    assert _infos() == [{**KEY, "phase": "Healthy", "stable_version": "iris-v2",
                         "canary_version": ""}]
    assert _value("mlops_operator_rollout_step") == -1
    assert _value("mlops_operator_rollout_check_value", check="error-rate") is None
    assert (_value("mlops_operator_rollout_phase_start_timestamp_seconds") or 0) > (since or 0)
    gauges.forget("gauge-test", "iris")
    assert _infos() == []
    for name in ("mlops_operator_rollout_weight", "mlops_operator_rollout_step",
                 "mlops_operator_rollout_phase_start_timestamp_seconds"):
        assert _value(name) is None, name
    gauges.forget("gauge-test", "iris")  # twice is harmless

