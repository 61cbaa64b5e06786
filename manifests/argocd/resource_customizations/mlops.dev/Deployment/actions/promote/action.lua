-- Skip the remaining steps and analysis: the canary becomes the stable version. The field
-- stays set until removed (later rollouts skip their analysis too while it is).
obj.spec.promote = true
return obj
