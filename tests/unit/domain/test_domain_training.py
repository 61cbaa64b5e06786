"""TrainingJob phase from Job and pod facts."""

from __future__ import annotations

import pytest
from mlops_operator.domain.training import (
    JobFacts,
    TrainingPhase,
    headline_metric,
    log_excerpt,
    training_phase,
)
from mlops_operator.domain.vocabulary import TrainingReason

ARTIFACT = {"uri": "pvc://c/m.onnx", "sha256": "a" * 64}
OK = {"ok": True, "task": "classification", "metrics": {"accuracy": 0.9667, "f1": 0.96},
      "artifacts": {"onnx": ARTIFACT}}
BAD_DATA = {"ok": False, "reason": "DatasetUnreachable", "message": "GET https://x: 404"}
LOGS = ("loading data", "", "fitting RandomForestClassifier", "Traceback ...", "MemoryError")

P, R, S, F = (TrainingPhase.PENDING, TrainingPhase.RUNNING, TrainingPhase.SUCCEEDED,
              TrainingPhase.FAILED)


@pytest.mark.parametrize(
    ("facts", "phase", "reason", "message"),
    [
        (JobFacts(exists=False), P, TrainingReason.JOB_NOT_CREATED, "creating the training Job"),
        (JobFacts(exists=True), P, TrainingReason.POD_PENDING,
         "waiting for the training pod to start"),
        (JobFacts(exists=True, active=1, pod_phase="Pending"), P, TrainingReason.POD_PENDING,
         "waiting for the training pod to start"),
        (JobFacts(exists=True, active=1, pod_phase="Pending", waiting_reason="ContainerCreating"),
         P, TrainingReason.POD_PENDING,
         "waiting for the training pod to start (ContainerCreating)"),
        (JobFacts(exists=True, active=1, pod_phase="Pending", waiting_reason="ImagePullBackOff",
                  waiting_message='Back-off pulling image "nope:1"'),
         P, "ImagePullBackOff", 'Back-off pulling image "nope:1"'),
        (JobFacts(exists=True, active=1, waiting_reason="ErrImagePull"), P, "ErrImagePull",
         "training container is waiting: ErrImagePull"),
        (JobFacts(exists=True, active=1, pod_phase="Pending", waiting_reason="ErrImageNeverPull",
                  waiting_message='Container image "a/b:1" is not present with pull policy '
                                  "of Never"),
         P, "ErrImageNeverPull", 'Container image "a/b:1" is not present with pull policy of '
         "Never"),
        (JobFacts(exists=True, active=1, pod_phase="Running"), R, TrainingReason.TRAINING_RUNNING,
         "training pod is running"),
        (JobFacts(exists=True, active=1), R, TrainingReason.TRAINING_RUNNING,
         "training pod is running"),
        (JobFacts(exists=True, active=1, pod_phase="Running", failed=1, backoff_limit=2,
                  termination_message=BAD_DATA), R, TrainingReason.TRAINING_RUNNING,
         "training pod is running (attempt 2 of 3; previous attempt failed: DatasetUnreachable: "
         "GET https://x: 404)"),
        # The pod ended a moment before the Job counts it: not back to Pending.
        (JobFacts(exists=True, pod_phase="Succeeded", termination_message=OK), R,
         TrainingReason.TRAINING_RUNNING,
         "training pod finished; waiting for the Job to record it"),
        (JobFacts(exists=True, pod_phase="Failed", failed=1, backoff_limit=2), P,
         TrainingReason.RETRYING, "waiting for the next attempt (attempt 2 of 3)"),
        (JobFacts(exists=True, failed=1, backoff_limit=1), P, TrainingReason.RETRYING,
         "waiting for the next attempt (attempt 2 of 2)"),
        (JobFacts(exists=True, succeeded=1, complete=True, termination_message=OK), S,
         TrainingReason.TRAINING_SUCCEEDED, "training succeeded: accuracy=0.9667"),
        (JobFacts(exists=True, succeeded=1,
                  termination_message={"ok": True, "artifacts": {"skops": ARTIFACT}}), S,
         TrainingReason.TRAINING_SUCCEEDED, "training succeeded"),
        (JobFacts(exists=True, succeeded=1, termination_message={"ok": True}), F,
         TrainingReason.INVALID_RESULT, "the training container's result cannot be recorded: "
         "result.artifacts must name an onnx or skops artifact with uri and sha256"),
        (JobFacts(exists=True, complete=True, termination_message=None, log_tail=LOGS), F,
         TrainingReason.NO_RESULT,
         'the training container exited successfully but wrote no result (expected a '
         '{"ok": true, ...} JSON termination message); last log lines: loading data | fitting '
         "RandomForestClassifier | Traceback ... | MemoryError"),
        (JobFacts(exists=True, complete=True, termination_message=BAD_DATA), F,
         "DatasetUnreachable", "GET https://x: 404"),
        (JobFacts(exists=True, failed=2, backoff_limit=1, failed_condition=True,
                  failed_reason="BackoffLimitExceeded", termination_message=BAD_DATA),
         F, "DatasetUnreachable", "GET https://x: 404"),
        (JobFacts(exists=True, failed=2, backoff_limit=1, failed_condition=True,
                  failed_reason="BackoffLimitExceeded",
                  failed_message="Job has reached the specified backoff limit", log_tail=LOGS),
         F, "BackoffLimitExceeded", "training failed after 2 attempts: Job has reached the "
         "specified backoff limit; last log lines: loading data | fitting RandomForestClassifier"
         " | Traceback ... | MemoryError"),
        (JobFacts(exists=True, failed=1, backoff_limit=0), F, TrainingReason.TRAINING_FAILED,
         "training failed after 1 attempt"),  # condition not posted yet
        (JobFacts(exists=True, failed_condition=True, failed_reason="DeadlineExceeded",
                  active_deadline_seconds=600, log_tail=("epoch 3",)),
         F, TrainingReason.DEADLINE_EXCEEDED,
         "deadline exceeded after 600 s; last log lines: epoch 3"),
        (JobFacts(exists=True, failed_condition=True, failed_reason="DeadlineExceeded"),
         F, TrainingReason.DEADLINE_EXCEEDED, "deadline exceeded"),
        (JobFacts(exists=True, failed_condition=True, failed_reason="DeadlineExceeded",
                  active_deadline_seconds=60, termination_message=BAD_DATA),
         F, TrainingReason.DEADLINE_EXCEEDED,
         "deadline exceeded after 60 s (DatasetUnreachable: GET https://x: 404)"),
        (JobFacts(exists=True, failed_condition=True,
                  termination_message={"ok": False, "reason": "not valid!", "message": "boom"}),
         F, TrainingReason.TRAINING_FAILED, "not valid!: boom"),
        (JobFacts(exists=True, failed_condition=True, termination_message={"ok": False}),
         F, TrainingReason.TRAINING_FAILED, "the trainer reported a failure without a message"),
        (JobFacts(exists=True, failed_condition=True, failed_reason="weird reason"),
         F, TrainingReason.TRAINING_FAILED, "training failed after 1 attempt"),
    ],
)
def test_training_phase(facts: JobFacts, phase: TrainingPhase, reason: str, message: str) -> None:
    outcome = training_phase(facts)
    assert (outcome.phase, outcome.reason, outcome.message) == (phase, reason, message)
    assert outcome.terminal is phase.terminal
    assert outcome.create_job is (not facts.exists)
    assert (outcome.result is not None) is (phase is S)


def test_success_carries_the_result() -> None:
    outcome = training_phase(JobFacts(exists=True, succeeded=1, termination_message=OK))
    assert outcome.result == OK


def test_messages_are_bounded() -> None:
    facts = JobFacts(exists=True, failed_condition=True, log_tail=("x" * 600,) * 10)
    assert len(training_phase(facts).message) <= 1024


@pytest.mark.parametrize(
    ("phase", "terminal"), [(P, False), (R, False), (S, True), (F, True)]
)
def test_terminal_phases(phase: TrainingPhase, terminal: bool) -> None:
    assert phase.terminal is terminal


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"accuracy": 0.96666, "f1": 0.9}, "accuracy=0.9667"),
        ({"rmse": 53.2, "r2": 0.41}, "r2=0.41"),
        ({"rmse": 53.2}, "rmse=53.2"),
        ({"accuracy": None, "f1": 0.8}, "f1=0.8"),
        ({}, None),
        (None, None),
    ],
)
def test_headline_metric(metrics: dict | None, expected: str | None) -> None:
    assert headline_metric(metrics) == expected


def test_log_excerpt_keeps_last_non_blank_lines() -> None:
    assert log_excerpt(["a", " ", "b", "c\n"], count=2) == "b | c"
    assert log_excerpt([]) == ""
