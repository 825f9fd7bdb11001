-- Abort the campaign: set status.abort, and record the abort in status.interventions. Argo CD
-- sends the change to the status subresource.
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
if obj.status.abort == true then
  return obj
end
obj.status.abort = true
obj.status.interventions = obj.status.interventions or {}
table.insert(obj.status.interventions, {action = "Abort", user = argocdUser, time = os.date("!%Y-%m-%dT%H:%M:%SZ")})
return obj
