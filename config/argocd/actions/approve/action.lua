-- Approve what the campaign waits for: let the current Manual wave start (status.approvedWaves), or
-- accept the result of the current wave failures paused (status.acceptedWaves), by the rule of
-- `kubectl fleetwave approve` without a wave. Argo CD patches the difference this makes with a JSON
-- merge patch sent to the status subresource, without a resourceVersion, so an approval made with
-- kubectl in the same instant can be overwritten; approve with `kubectl fleetwave approve` when
-- several people approve at once (with the admission policy of config/policy such a patch is
-- refused instead, as it would drop the other approval's entry). The approval is recorded in
-- status.interventions.
--
-- Argo CD runs actions as its own identity, not the person's (who is in Argo CD's own audit log),
-- so the entry names the identity the API server sees: in-cluster, the argocd-server
-- ServiceAccount. With the admission policy of config/policy an entry must name exactly the user
-- that makes the request: when Argo CD reaches the cluster as another identity (a cluster added
-- with `argocd cluster add` uses system:serviceaccount:kube-system:argocd-manager), set argocdUser
-- to it, the same in abort, approve and retry.
local argocdUser = "system:serviceaccount:argocd:argocd-server"
local os = require("os")
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
      if c.type == "Ready" and (c.reason == "FailureBudgetExceeded" or c.reason == "SuccessThresholdNotMet"
          or c.reason == "FailureClassExceeded" or c.reason == "CampaignBudgetExceeded") then
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
local actions = {approvedWaves = "Approve", acceptedWaves = "Accept"}
status.interventions = status.interventions or {}
table.insert(status.interventions, {action = actions[list], wave = wave, user = argocdUser, time = os.date("!%Y-%m-%dT%H:%M:%SZ")})
return obj
