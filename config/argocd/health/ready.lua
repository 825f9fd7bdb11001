-- Argo CD health of a fleetwave FirmwareImage or Manifest, read from its kstatus conditions:
-- Degraded when Stalled=True, Healthy when Ready=True, Progressing otherwise, which includes an
-- object the controller has not reported on yet and one whose latest generation it has not seen.
local function condition(conditionType)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- text is a condition's message, else its reason, else the fallback.
local function text(c, fallback)
  if c == nil then
    return fallback
  end
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or fallback
end

local function health()
  if obj.status == nil then
    return "Progressing", "Waiting for the fleetwave controller"
  end
  local generation = obj.metadata.generation or 0
  if (obj.status.observedGeneration or 0) < generation then
    return "Progressing", "Waiting for the fleetwave controller to observe generation " .. generation
  end
  local stalled = condition("Stalled")
  if stalled ~= nil and stalled.status == "True" then
    return "Degraded", text(stalled, "Stalled")
  end
  local ready = condition("Ready")
  if ready ~= nil and ready.status == "True" then
    return "Healthy", text(ready, "Ready")
  end
  return "Progressing", text(ready, "Waiting for the fleetwave controller")
end

local status, message = health()
return {status = status, message = message}
