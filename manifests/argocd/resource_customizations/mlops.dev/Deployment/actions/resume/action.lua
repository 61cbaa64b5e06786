-- Let a paused rollout go on.
obj.spec.paused = nil
return obj
