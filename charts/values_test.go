package charts

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestValuesSchemaRefusesMistakes(t *testing.T) {
	for _, set := range []string{
		"metrics.servicemonitor.enabled=true", // misspelt
		"replicas=-1",
		"image.pullPolicy=Sometimes",
		"campaignPollInterval=ten seconds",
		"watchNamespaces={Team-A}",
		"extraArgs={leader-elect}", // not a flag
		"imageSources.maxImageSize=lots",
		"updateService.url=ftp://update.example.com",
	} {
		_, err := helmTemplate(releases[0], "--set", set)
		// helm names the value the schema refuses: "at '/replicas': minimum: got -1, want 0".
		if err == nil || !strings.Contains(err.Error(), "at '/") {
			t.Errorf("--set %s: want the values schema to refuse it, got %v", set, err)
		}
	}
}

// TestChartInstallsUnderTheReleaseIdentity renders the custom values (release fw in ops, ServiceAccount
// fw-operator, two watched namespaces, the API key Secret in another namespace) and follows the
// identity through every object that names it.
func TestChartInstallsUnderTheReleaseIdentity(t *testing.T) {
	objs := render(t, releases[3])
	const ns, sa = "ops", "fw-operator"
	for _, b := range append(ofKind(objs, "RoleBinding"), ofKind(objs, "ClusterRoleBinding")...) {
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		for _, s := range subjects {
			if s := s.(map[string]any); s["kind"] != "ServiceAccount" || s["name"] != sa || s["namespace"] != ns {
				t.Errorf("%s %s binds %v, want ServiceAccount %s/%s", b.GetKind(), b.GetName(), s, ns, sa)
			}
		}
	}
	if find(objs, "ServiceAccount", ns, sa) == nil {
		t.Errorf("no ServiceAccount %s/%s", ns, sa)
	}
	if find(objs, "ClusterRole", "", "fw-manager-role") != nil {
		t.Error("watching namespaces, the chart still grants the operator a ClusterRole on objects")
	}
	for _, watched := range []string{"team-a", "team-b"} {
		if find(objs, "Role", watched, "fw-manager-role") == nil || find(objs, "RoleBinding", watched, "fw-manager-rolebinding") == nil {
			t.Errorf("no Role and RoleBinding fw-manager-role in watched namespace %s", watched)
		}
	}
	if reader := find(objs, "Role", "secrets", "fw-api-key-reader"); reader == nil ||
		!strings.Contains(strings.Join(stringsAt(reader, "rules", "resourceNames"), ","), "update-service") {
		t.Error("no Role reading the API key Secret secrets/update-service by name")
	}
	args := containerArgs(objs)
	for _, want := range []string{"--namespaces=team-a,team-b", "--api-key-secret=secrets/update-service", "--api-key-secret-key=token"} {
		if !slices.Contains(args, want) {
			t.Errorf("operator args %v lack %s", args, want)
		}
	}
	policy := find(objs, "ValidatingAdmissionPolicy", "", "fw-campaign-status")
	if policy == nil {
		t.Fatal("no ValidatingAdmissionPolicy fw-campaign-status")
	}
	condition := strings.Join(stringsAt(policy, "spec", "matchConditions", "expression"), "")
	if !strings.Contains(condition, "'"+ns+"'") || !strings.Contains(condition, "'"+sa+"'") || strings.Contains(condition, "fleetwave-system") {
		t.Errorf("the admission policy leaves alone someone else than %s/%s: %s", ns, sa, condition)
	}
}

// TestChartWiring checks, for every release, that the metrics Service selects the operator's pods and
// their metrics port, and that a ServiceMonitor selects that Service and port in its namespace.
func TestChartWiring(t *testing.T) {
	for _, r := range releases {
		objs := render(t, r)
		deployment := ofKind(objs, "Deployment")[0]
		podLabels, _, _ := unstructured.NestedStringMap(deployment.Object, "spec", "template", "metadata", "labels")
		services := ofKind(objs, "Service")
		if len(services) != 1 {
			t.Fatalf("%s: %d Services, want the metrics Service", r.values, len(services))
		}
		svc := services[0]
		selector, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
		if !subset(selector, podLabels) || len(selector) == 0 {
			t.Errorf("%s: Service selector %v does not select the pods %v", r.values, selector, podLabels)
		}
		for _, sm := range ofKind(objs, "ServiceMonitor") {
			matchLabels, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			if !subset(matchLabels, svc.GetLabels()) || !slices.Contains(stringsAt(sm, "spec", "namespaceSelector", "matchNames"), svc.GetNamespace()) {
				t.Errorf("%s: ServiceMonitor selects %v in %v, not Service %s/%s %v", r.values, matchLabels,
					stringsAt(sm, "spec", "namespaceSelector", "matchNames"), svc.GetNamespace(), svc.GetName(), svc.GetLabels())
			}
			ports := stringsAt(svc, "spec", "ports", "name")
			for _, port := range stringsAt(sm, "spec", "endpoints", "port") {
				if !slices.Contains(ports, port) {
					t.Errorf("%s: ServiceMonitor scrapes port %s, the Service has %v", r.values, port, ports)
				}
			}
		}
	}
}

func containerArgs(objs []*unstructured.Unstructured) []string {
	return stringsAt(ofKind(objs, "Deployment")[0], "spec", "template", "spec", "containers", "args")
}

// stringsAt collects the strings at path in obj, descending into every element of the lists on the
// way.
func stringsAt(obj *unstructured.Unstructured, path ...string) []string {
	return collect(obj.Object, path)
}

func collect(v any, path []string) []string {
	switch v := v.(type) {
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, collect(e, path)...)
		}
		return out
	case map[string]any:
		if len(path) == 0 {
			return nil
		}
		return collect(v[path[0]], path[1:])
	case string:
		if len(path) == 0 {
			return []string{v}
		}
	}
	return nil
}

func subset(small, big map[string]string) bool {
	for k, v := range small {
		if big[k] != v {
			return false
		}
	}
	return true
}
