-- Retry the current wave: raise status.attempt, clear status.abort, and record the retry in
-- status.interventions. Argo CD sends the change to the status subresource as a merge patch
-- without a resourceVersion, so a retry made with kubectl in the same instant can be lost rather
-- than counted twice (with the admission policy of config/policy the patch is then refused, as it
-- would drop the other retry's entry).
--
-- Argo CD runs actions as its own identity, not the person's (who is in Argo CD's own audit log),
-- so the entry names the identity the API server sees: in-cluster, the argocd-server
-- ServiceAccount. With the admission policy of config/policy an entry must name exactly the user
-- that makes the request: when Argo CD reaches the cluster as another identity (a cluster added
-- with `argocd cluster add` uses system:serviceaccount:kube-system:argocd-manager), set argocdUser
-- to it, the same in abort, approve and retry.
local argocdUser = "system:serviceaccount:argocd:argocd-server"
local os = require("os")

obj.status = obj.status or {}
obj.status.attempt = (obj.status.attempt or 0) + 1
obj.status.abort = nil
local entry = {action = "Retry", user = argocdUser, time = os.date("!%Y-%m-%dT%H:%M:%SZ")}
local current = (obj.spec.waves or {})[(obj.status.currentWave or 0) + 1]
if current ~= nil then
  entry.wave = current.name
end
obj.status.interventions = obj.status.interventions or {}
table.insert(obj.status.interventions, entry)
return obj
