"""Which pod problem a Deployment reports, and whether waiting can fix it."""

from __future__ import annotations

import pytest
from mlops_operator.domain.pods import PodProblem, PodSummary, diagnose, problem_of
from mlops_operator.domain.vocabulary import PodReason


def pod(**fields: object) -> PodSummary:
    base: dict[str, object] = {"name": "iris-canary-x", "track": "canary", "version": "iris-v2",
                               "ready": False, "deleting": False}
    return PodSummary(**{**base, **fields})  # type: ignore[arg-type]


MISMATCH = "model checksum mismatch for pvc://c/m.onnx: expected sha256 aa, got sha256 bb"


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (pod(ready=True), None),
        (pod(deleting=True, terminated_message="x", exit_code=1), None),
        (pod(), None),  # starting: nothing to say yet
        (pod(waiting_reason="ContainerCreating"), None),
        (pod(waiting_reason="CrashLoopBackOff", terminated_message=MISMATCH, exit_code=1),
         PodProblem(PodReason.CHECKSUM_MISMATCH, MISMATCH, permanent=True)),
        (pod(terminated_message="cannot load ONNX model pvc://c/m.onnx: bad protobuf",
             exit_code=1),
         PodProblem(PodReason.MODEL_LOAD_FAILED,
                    "cannot load ONNX model pvc://c/m.onnx: bad protobuf",
                    permanent=True)),
        (pod(terminated_message="--port: expected an integer, got 'http'", exit_code=2),
         PodProblem(PodReason.MODEL_LOAD_FAILED, "--port: expected an integer, got 'http'",
                    permanent=True)),
        (pod(terminated_message="cannot read model artifact s3://b/m.onnx: timeout",
             exit_code=1),
         PodProblem(PodReason.MODEL_LOAD_FAILED,
                    "cannot read model artifact s3://b/m.onnx: timeout")),
        (pod(terminated_reason="OOMKilled", exit_code=137),
         PodProblem(PodReason.OOM_KILLED, "pod iris-canary-x ran out of memory; raise its limit")),
        (pod(terminated_reason="Error", terminated_message="segfault", exit_code=139),
         PodProblem(PodReason.CONTAINER_FAILED, "segfault")),
        (pod(waiting_reason="ImagePullBackOff", waiting_message="Back-off pulling image \"x\""),
         PodProblem("ImagePullBackOff", "Back-off pulling image \"x\"")),
        (pod(waiting_reason="InvalidImageName", waiting_message="couldn't parse image"),
         PodProblem("InvalidImageName", "couldn't parse image", permanent=True)),
        (pod(waiting_reason="ErrImageNeverPull",
             waiting_message='Container image "acme/model:1" is not present with pull policy '
                             'of Never'),
         PodProblem("ErrImageNeverPull", 'Container image "acme/model:1" is not present with '
                    "pull policy of Never", permanent=True)),
        (pod(waiting_reason="CrashLoopBackOff"),
         PodProblem("CrashLoopBackOff", "pod iris-canary-x is CrashLoopBackOff")),
        (pod(unschedulable_message="0/1 nodes are available: 1 Insufficient cpu."),
         PodProblem(PodReason.UNSCHEDULABLE, "0/1 nodes are available: 1 Insufficient cpu.")),
    ],
)
def test_problem_of_one_pod(summary: PodSummary, expected: PodProblem | None) -> None:
    assert problem_of(summary) == expected


def test_a_permanent_problem_wins_and_long_messages_are_one_bounded_line() -> None:
    pods = [pod(waiting_reason="CrashLoopBackOff"),
            pod(terminated_message=MISMATCH + "\n" + "x" * 1000, exit_code=1)]
    found = diagnose(pods)
    assert found is not None and found.permanent and found.reason == PodReason.CHECKSUM_MISMATCH
    assert "\n" not in found.message and len(found.message) <= 400
    assert diagnose([pod(ready=True)]) is None
    assert found.describe().startswith("ChecksumMismatch: model checksum mismatch")
