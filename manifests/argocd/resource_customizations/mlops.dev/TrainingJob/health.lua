-- Health of an mlops.dev TrainingJob from the conditions its operator writes: Ready is
-- Healthy (trained, its ModelVersion recorded), Stalled is Degraded (failed, or its Job was
-- refused), the rest is Progressing (pending or training).
local hs = {status = "Progressing", message = "Waiting for the operator to observe the spec"}
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
hs.message = obj.status.message or ""
return hs
