-- Roll the canary back now; the Deployment stays on its stable version until the target
-- changes (remove spec.abort before the next rollout).
obj.spec.abort = true
return obj
