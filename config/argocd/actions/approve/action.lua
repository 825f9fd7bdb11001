-- Approve what the campaign waits for: let the current Manual wave start (status.approvedWaves), or
-- accept the result of the current wave failures paused (status.acceptedWaves), by the rule of
-- `kubectl fleetwave approve` without a wave. Argo CD patches the difference this makes with a JSON
-- merge patch sent to the status subresource, without a resourceVersion, so an approval made with
-- kubectl in the same instant can be overwritten; approve with `kubectl fleetwave approve` when
-- several people approve at once.
local status = obj.status or {}
local ended = status.phase == "Completed" or status.phase == "Aborted" or status.phase == "Failed"

-- decide: the same function as in discovery.lua (see there).
local function decide()
  if ended or obj.spec.waves == nil then
    return nil
  end
  local wave = obj.spec.waves[(status.currentWave or 0) + 1]
  if wave == nil then
    return nil
  end
  local started = false
  for _, w in ipairs(status.waves or {}) do
    if w.name == wave.name then
      started = w.startedAt ~= nil
    end
  end
  if wave.approval == "Manual" and not started then
    return wave.name, "approvedWaves"
  end
  if status.phase == "Paused" then
    for _, c in ipairs(status.conditions or {}) do
      if c.type == "Ready" and (c.reason == "FailureBudgetExceeded" or c.reason == "SuccessThresholdNotMet") then
        return wave.name, "acceptedWaves"
      end
    end
  end
  return nil
end

local wave, list = decide()
if wave == nil then
  error("nothing of this campaign waits for approval: no Manual wave waits to start and no failures pause it", 0)
end
obj.status = status
status[list] = status[list] or {}
for _, name in ipairs(status[list]) do
  if name == wave then
    return obj
  end
end
table.insert(status[list], wave)
return obj
