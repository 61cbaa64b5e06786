-- Health of an mlops.dev Deployment from the conditions its operator writes: Stalled is
-- Degraded (rolled back, invalid, a refused workload, a Rejected target), Ready is Healthy
-- (the target version serves all traffic), a paused rollout is Suspended, the rest is
-- Progressing (a canary step, analysis, waiting for pods or for the target version).
local hs = {status = "Progressing", message = "Waiting for the operator to observe the spec"}
if obj.status == nil or obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
local function condition(kind)
  for _, c in ipairs(obj.status.conditions or {}) do
    if c.type == kind then
      return c
    end
  end
  return nil
end
local stalled, ready = condition("Stalled"), condition("Ready")
if stalled ~= nil and stalled.status == "True" then
  hs.status, hs.message = "Degraded", stalled.message
elseif ready ~= nil and ready.status == "True" then
  hs.status, hs.message = "Healthy", ready.message
elseif obj.status.phase == "Paused" then
  hs.status, hs.message = "Suspended", obj.status.message
else
  hs.message = obj.status.message or (ready ~= nil and ready.message) or ""
end
return hs
