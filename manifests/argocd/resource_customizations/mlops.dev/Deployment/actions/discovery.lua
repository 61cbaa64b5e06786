-- Actions on an mlops.dev Deployment: promote or abort the canary in flight (one-shot
-- annotations naming it), pause or resume the rollout (spec.paused).
local status = obj.status or {}
local spec = obj.spec or {}
local annotations = obj.metadata.annotations or {}
local canary = status.canaryVersion
local function requested(flag)
  return spec[flag] == true or (canary ~= nil and annotations["mlops.dev/" .. flag] == canary)
end
local actions = {}
actions["promote"] = {["disabled"] = canary == nil or requested("promote")}
actions["abort"] = {["disabled"] = canary == nil or requested("abort")}
actions["pause"] = {["disabled"] = spec.paused == true}
actions["resume"] = {["disabled"] = spec.paused ~= true}
return actions
