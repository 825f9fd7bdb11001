-- Argo CD health of a fleetwave UpdateCampaign: Healthy once Completed, or Watching for devices
-- that join; Degraded when Aborted, Failed or Stalled; Suspended while it waits for a person (Paused,
-- WaitingForApproval) or for its schedule (Scheduled);
-- Progressing otherwise, which includes a campaign the controller has not reported on yet and one
-- whose latest generation it has not seen.
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

-- onWave puts the campaign's progress ("wave 2/4") in front of a message.
local function onWave(message)
  if obj.status.progress == nil then
    return message
  end
  return "Wave " .. obj.status.progress .. ": " .. message
end

local function health()
  if obj.status == nil then
    return "Progressing", "Waiting for the fleetwave controller"
  end
  local generation = obj.metadata.generation or 0
  if (obj.status.observedGeneration or 0) < generation then
    return "Progressing", "Waiting for the fleetwave controller to observe generation " .. generation
  end
  local phase = obj.status.phase
  local ready = condition("Ready")
  local stalled = condition("Stalled")
  if phase == "Completed" or phase == "Watching" then
    return "Healthy", text(ready, phase)
  end
  if phase == "Aborted" or phase == "Failed" then
    return "Degraded", phase .. ": " .. text(stalled, text(ready, "no reason given"))
  end
  if stalled ~= nil and stalled.status == "True" then
    return "Degraded", onWave(text(stalled, "Stalled"))
  end
  if phase == "Paused" or phase == "WaitingForApproval" then
    return "Suspended", onWave(text(condition("Paused"), phase))
  end
  if phase == "Scheduled" then
    return "Suspended", onWave(text(ready, phase))
  end
  return "Progressing", onWave(text(condition("Progressing"), text(ready, "Waiting for the fleetwave controller")))
end

local status, message = health()
return {status = status, message = message}
