package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// createNamed stores fourWaves as namespace/name.
func createNamed(t *testing.T, namespace, name string) client.ObjectKey {
	t.Helper()
	uc := fourWaves()
	uc.Namespace, uc.Name = namespace, name
	if err := env.Client.Create(context.Background(), uc); err != nil {
		t.Fatalf("creating campaign: %v", err)
	}
	return client.ObjectKeyFromObject(uc)
}

// tableRows splits list's output into rows of cells, header first.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestListNamespace(t *testing.T) {
	ns := newNamespace(t)
	createNamed(t, ns, "zeta")
	alpha := createNamed(t, ns, "alpha")
	setStatus(t, alpha, func(st *v1.UpdateCampaignStatus) {
		progressing(2)(st)
		st.Totals = v1.DeviceCounts{Targeted: 120, Succeeded: 100, Failed: 7}
	})
	createNamed(t, newNamespace(t), "elsewhere")

	out := mustRunAs(t, adminKubeconfig, "list", "-n", ns)
	rows := tableRows(out)
	want := [][]string{
		{"NAME", "PHASE", "WAVE", "SUCCEEDED/TARGETED", "FAILED", "AGE"},
		{"alpha", "Progressing", "3/4", "(half)", "100/120", "7"},
		{"zeta", "-", "-", "(canary)", "0/0", "0"},
	}
	if len(rows) != len(want) {
		t.Fatalf("list printed %d rows, want %d:\n%s", len(rows), len(want), out)
	}
	for i, w := range want {
		// The last cell is the age, which depends on the clock.
		got := rows[i]
		if i > 0 {
			got = got[:len(got)-1]
		}
		if !slices.Equal(got, w) {
			t.Errorf("row %d = %q, want %q\n%s", i, got, w, out)
		}
	}
}

func TestListAllNamespaces(t *testing.T) {
	first, second := newNamespace(t), newNamespace(t)
	if second < first {
		first, second = second, first
	}
	// Created out of order, so the sorting is list's and not the API server's.
	createNamed(t, second, "b")
	createNamed(t, second, "a")
	createNamed(t, first, "c")

	for _, flag := range []string{"-A", "--all-namespaces"} {
		out := mustRunAs(t, adminKubeconfig, "list", flag)
		rows := tableRows(out)
		if len(rows) == 0 || rows[0][0] != "NAMESPACE" || rows[0][1] != "NAME" {
			t.Fatalf("list %s: header is not NAMESPACE, NAME, ...:\n%s", flag, out)
		}
		// Other tests' campaigns are listed too; keep the rows of this test's namespaces.
		var got []string
		for _, row := range rows[1:] {
			if row[0] == first || row[0] == second {
				got = append(got, row[0]+"/"+row[1])
			}
		}
		want := []string{first + "/c", second + "/a", second + "/b"}
		if !slices.Equal(got, want) {
			t.Errorf("list %s rows = %q, want %q\n%s", flag, got, want, out)
		}
		var keys []string
		for _, row := range rows[1:] {
			keys = append(keys, row[0]+"\x00"+row[1])
		}
		if !slices.IsSorted(keys) {
			t.Errorf("list %s is not sorted by namespace, then name:\n%s", flag, out)
		}
	}
}

func TestListEmpty(t *testing.T) {
	ns := newNamespace(t)
	out := mustRunAs(t, adminKubeconfig, "list", "-n", ns)
	if want := "No UpdateCampaigns found in namespace " + ns + ".\n"; out != want {
		t.Errorf("list of an empty namespace printed %q, want %q", out, want)
	}
}

// complete runs `fleetwave __complete args...` the way a shell does, with the connection flags
// before the word being completed, and returns the candidates and the directive line.
func complete(t *testing.T, namespace string, args ...string) ([]string, string) {
	t.Helper()
	words := append([]string{"__complete"}, args[:len(args)-1]...)
	words = append(words, "--kubeconfig", adminKubeconfig, "-n", namespace, args[len(args)-1])
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(words)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("fleetwave %s: %v\n%s", strings.Join(words, " "), err, errOut.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

func TestCompleteCampaignNames(t *testing.T) {
	ns := newNamespace(t)
	createNamed(t, ns, "thermostat-b")
	createNamed(t, ns, "thermostat-a")
	createNamed(t, ns, "lock-fw")
	createNamed(t, newNamespace(t), "other-namespace")

	for _, verb := range campaignVerbs {
		got, directive := complete(t, ns, verb, "")
		if want := []string{"lock-fw", "thermostat-a", "thermostat-b"}; !slices.Equal(got, want) {
			t.Errorf("__complete %s \"\" = %q, want %q", verb, got, want)
		}
		if directive != ":4" {
			t.Errorf("__complete %s: directive %q, want :4 (ShellCompDirectiveNoFileComp)", verb, directive)
		}
	}
	if got, _ := complete(t, ns, "abort", "therm"); !slices.Equal(got, []string{"thermostat-a", "thermostat-b"}) {
		t.Errorf("__complete abort therm = %q, want the two thermostat campaigns", got)
	}
	if got, directive := complete(t, ns, "pause", "lock-fw", ""); len(got) != 0 || directive != ":4" {
		t.Errorf("__complete pause lock-fw \"\" = %q %s, want nothing and :4", got, directive)
	}
}

func TestCompleteApproveWaves(t *testing.T) {
	ns := newNamespace(t)
	createNamed(t, ns, "uc")

	got, directive := complete(t, ns, "approve", "uc", "")
	if want := []string{"canary", "early", "half", "rest"}; !slices.Equal(got, want) {
		t.Errorf("__complete approve uc \"\" = %q, want %q", got, want)
	}
	if directive != ":4" {
		t.Errorf("directive %q, want :4", directive)
	}
	if got, _ := complete(t, ns, "approve", "uc", "h"); !slices.Equal(got, []string{"half"}) {
		t.Errorf("__complete approve uc h = %q, want [half]", got)
	}
	if got, directive := complete(t, ns, "approve", "missing", ""); len(got) != 0 || directive != ":4" {
		t.Errorf("__complete approve missing \"\" = %q %s, want nothing and :4", got, directive)
	}
}
