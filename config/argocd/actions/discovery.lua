-- The UpdateCampaign actions Argo CD offers, each enabled when it makes sense, as
-- `kubectl fleetwave` does them: approve, abort and retry write the status subresource, pause and
-- resume write spec.paused.
local actions = {}
local status = obj.status or {}
local phase = status.phase
local ended = phase == "Completed" or phase == "Aborted" or phase == "Failed"
local paused = obj.spec.paused == true

-- decide is what approve/action.lua does, by the rule of `kubectl fleetwave approve` without a wave:
-- when the current wave has not started and its approval is Manual, let it start (its name and
-- "approvedWaves"); else, when failures pause the campaign (phase Paused, the Ready condition's
-- reason FailureBudgetExceeded or SuccessThresholdNotMet), accept the current wave's result (its
-- name and "acceptedWaves"); else nothing. Approving a wave never waives the failures of another,
-- and a campaign the Abort policy failed is not paused: only retry goes on. Argo CD runs each script
-- on its own, so approve/action.lua holds the same function; the tests check that the two agree.
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
      if c.type == "Ready" and (c.reason == "FailureBudgetExceeded" or c.reason == "SuccessThresholdNotMet"
          or c.reason == "FailureClassExceeded" or c.reason == "CampaignBudgetExceeded") then
        return wave.name, "acceptedWaves"
      end
    end
  end
  return nil
end

local function contains(list, wave)
  for _, name in ipairs(list or {}) do
    if name == wave then
      return true
    end
  end
  return false
end

local wave, list = decide()
if wave == nil then
  actions["approve"] = {["disabled"] = true}
elseif list == "approvedWaves" then
  actions["approve"] = {["disabled"] = contains(status.approvedWaves, wave), ["displayName"] = "Approve wave " .. wave}
else
  actions["approve"] = {["disabled"] = contains(status.acceptedWaves, wave), ["displayName"] = "Accept the result of wave " .. wave}
end
actions["abort"] = {["disabled"] = ended or status.abort == true}
actions["retry"] = {["disabled"] = not (phase == "Aborted" or phase == "Failed" or phase == "Paused")}
actions["pause"] = {["disabled"] = ended or paused}
actions["resume"] = {["disabled"] = not paused}
return actions
