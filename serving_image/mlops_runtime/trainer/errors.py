"""The one error type of the trainer: a machine-readable reason plus a clear message.

The operator turns ``reason`` into a condition reason on the TrainingJob, so the
set of reasons is closed and every failure path maps to exactly one of them.
"""

from __future__ import annotations

REASONS = frozenset(
    {
        "DatasetUnreachable",
        "DatasetMalformed",
        "UnknownEstimator",
        "InvalidParams",
        "MissingTargetColumn",
        "MissingFeature",
        "TrainingError",
        "ArtifactWriteFailed",
        "DataCheckFailed",
    }
)


class TrainerError(Exception):
    """A training failure the user can act on."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown failure reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"
