"""Pure builders of the child objects the operator creates (plain dicts, no I/O)."""

from mlops_operator.builders.cards import (
    CARD_CONTAINER,
    MODEL_CARD_LABEL,
    build_card_job,
    card_job_name,
    card_uri,
)
from mlops_operator.builders.common import (
    PVC_ROOT,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    artifact_claim_mount,
    claim_of,
    owner_reference,
)
from mlops_operator.builders.serving import (
    FAULT_ANNOTATIONS,
    SpecConflict,
    build_main_service,
    build_server_workload,
    build_track_services,
)
from mlops_operator.builders.training import (
    RETRAIN_OF_LABEL,
    TRAINER_CONTAINER,
    TRAINING_JOB_LABEL,
    TRIGGER_ANNOTATION,
    VERIFY_JOB_LABEL,
    artifact_dir_uri,
    build_model_version,
    build_retrain_run,
    build_training_job,
    build_verify_job,
    card_annotations,
    champion_reference,
    retrain_lineage,
    trainer_spec,
    training_job_name,
    verify_job_name,
)

__all__ = [
    "CARD_CONTAINER", "MODEL_CARD_LABEL", "build_card_job", "card_job_name", "card_uri",
    "FAULT_ANNOTATIONS", "PVC_ROOT", "RESTRICTED_CONTAINER", "RESTRICTED_POD", "RETRAIN_OF_LABEL",
    "SpecConflict",
    "TRAINER_CONTAINER", "TRAINING_JOB_LABEL", "TRIGGER_ANNOTATION", "VERIFY_JOB_LABEL",
    "artifact_claim_mount", "artifact_dir_uri", "build_main_service", "build_model_version",
    "build_retrain_run", "build_server_workload", "build_track_services", "retrain_lineage",
    "build_training_job", "build_verify_job", "card_annotations", "champion_reference", "claim_of",
    "owner_reference", "trainer_spec", "training_job_name", "verify_job_name",
]
