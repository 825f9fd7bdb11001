package argocd

import (
	"path/filepath"
	"strings"
	"testing"
)

// configMapHeader opens argocd-cm-patch.yaml. The file is written by `go test -update`.
const configMapHeader = `# Argo CD health checks and resource actions for the fleetwave kinds, as a patch of argocd-cm:
#
#   kubectl -n argocd patch configmap argocd-cm --patch-file config/argocd/argocd-cm-patch.yaml
#
# or as a strategic-merge patch in the kustomization that installs Argo CD. Written from the scripts
# in config/argocd/health and config/argocd/actions by 'go test ./config/argocd -update'; the same
# test without -update fails when this file and the scripts differ.
#
# approve, abort and retry change the campaign's status. Argo CD runs an action on the live object
# and patches what the script changed as a JSON merge patch; a patch that touches status goes to the
# status subresource (updatecampaigns/status), so they work, as Argo CD's service account. That
# patch carries no resourceVersion: an approval or acceptance made with kubectl at the same instant
# can be overwritten, which 'kubectl fleetwave approve' (optimistic locking) never does.
#
# Each of the three records itself in status.interventions with the user the API server sees:
# Argo CD's, not the person's (Argo CD's own audit log names the person). That is argocdUser in
# each script, in-cluster system:serviceaccount:argocd:argocd-server. The admission policy of
# config/policy refuses an entry that does not name the requester: when Argo CD reaches the
# cluster as another identity, change argocdUser in the three scripts to it.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
`

func healthKey(kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

func actionsKey() string {
	return "resource.customizations.actions." + group + "_" + actionsKind
}

// renderConfigMapPatch writes the scripts into argocd-cm as block scalars, indented as YAML needs.
func renderConfigMapPatch(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(configMapHeader)
	for _, h := range healthChecks {
		b.WriteString("  " + healthKey(h.kind) + ": |\n")
		b.WriteString(indent(readFile(t, h.script), 4))
	}
	b.WriteString("  " + actionsKey() + ": |\n")
	b.WriteString("    discovery.lua: |\n")
	b.WriteString(indent(readFile(t, filepath.Join("actions", "discovery.lua")), 6))
	b.WriteString("    definitions:\n")
	for _, name := range actionNames {
		b.WriteString("    - name: " + name + "\n")
		b.WriteString("      action.lua: |\n")
		b.WriteString(indent(actionScript(t, name), 8))
	}
	return b.String()
}

// indent puts n spaces before every line that is not empty.
func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.SplitAfter(text, "\n")
	for i, line := range lines {
		if line != "\n" && line != "" {
			lines[i] = pad + line
		}
	}
	return strings.Join(lines, "")
}
