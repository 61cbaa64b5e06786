-- Actions on an mlops.dev Deployment: promote or abort the canary in flight, pause or
-- resume the rollout (the spec's promote, abort and paused fields).
local status = obj.status or {}
local spec = obj.spec or {}
local canary = status.canaryVersion ~= nil
local actions = {}
actions["promote"] = {["disabled"] = not canary or spec.promote == true}
actions["abort"] = {["disabled"] = not canary or spec.abort == true}
actions["pause"] = {["disabled"] = spec.paused == true}
actions["resume"] = {["disabled"] = spec.paused ~= true}
return actions
