-- Roll the canary in flight back now; the Deployment stays on its stable version while the
-- target names that canary. One-shot: the annotation names the canary, and the operator
-- removes it once the canary is rolled back.
obj.metadata.annotations = obj.metadata.annotations or {}
obj.metadata.annotations["mlops.dev/abort"] = obj.status.canaryVersion
return obj
