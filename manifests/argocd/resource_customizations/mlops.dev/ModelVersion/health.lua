-- Health of an mlops.dev ModelVersion from the conditions its operator writes: Ready is
-- Healthy (Approved: it may serve), Stalled is Degraded (Rejected by its quality gate, or
-- Invalid), the rest is Progressing (waiting for its gate or its verification).
local hs = {status = "Progressing", message = "Waiting for the quality gate or the verification"}
if obj.status == nil or obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
for _, c in ipairs(obj.status.conditions or {}) do
  if c.type == "Stalled" and c.status == "True" then
    return {status = "Degraded", message = c.message}
  end
  if c.type == "Ready" and c.status == "True" then
    return {status = "Healthy", message = c.message}
  end
end
hs.message = obj.status.message or hs.message
return hs
