-- Skip the remaining steps and analysis of the canary in flight: it becomes the stable
-- version. One-shot: the annotation names that canary, and the operator removes it once the
-- canary is promoted or rolled back, so no later rollout skips its analysis and nothing
-- differs from Git afterwards.
obj.metadata.annotations = obj.metadata.annotations or {}
obj.metadata.annotations["mlops.dev/promote"] = obj.status.canaryVersion
return obj
