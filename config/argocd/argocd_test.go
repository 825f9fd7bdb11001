// Package argocd tests the Argo CD health checks and resource actions of the fleetwave kinds: each
// Lua script runs, as Argo CD runs it, against the fixtures its *_test.yaml names, and
// argocd-cm-patch.yaml must hold exactly the scripts.
package argocd

import (
	"context"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite argocd-cm-patch.yaml from the Lua scripts")

const (
	group          = "update.fleetwave.io"
	configMapPatch = "argocd-cm-patch.yaml"
	actionsKind    = "UpdateCampaign"
	actionCases    = "actions/action_test.yaml"
)

// healthChecks says which script is each kind's health check and which file holds its cases.
// FirmwareImage and Manifest share one: both are healthy exactly when Ready is True.
var healthChecks = []struct{ kind, script, cases string }{
	{"FirmwareImage", "health/ready.lua", "health/ready_test.yaml"},
	{"Manifest", "health/ready.lua", "health/ready_test.yaml"},
	{"UpdateCampaign", "health/updatecampaign.lua", "health/updatecampaign_test.yaml"},
}

// actionNames are the UpdateCampaign actions, each in actions/NAME/action.lua.
var actionNames = []string{"abort", "approve", "pause", "resume", "retry"}

// healthCases is the layout of Argo CD's health_test.yaml.
type healthCases struct {
	Tests []struct {
		HealthStatus healthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// actionTestCases is the layout of Argo CD's action_test.yaml, plus expectedErrorMessage for an
// action that refuses to run.
type actionTestCases struct {
	DiscoveryTests []struct {
		InputPath string             `json:"inputPath"`
		Result    []discoveredAction `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action               string `json:"action"`
		InputPath            string `json:"inputPath"`
		ExpectedOutputPath   string `json:"expectedOutputPath"`
		ExpectedErrorMessage string `json:"expectedErrorMessage"`
	} `json:"actionTests"`
}

// discoveredAction is one entry of what discovery.lua returns.
type discoveredAction struct {
	Name        string `json:"name"`
	Disabled    bool   `json:"disabled"`
	DisplayName string `json:"displayName,omitempty"`
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// readYAML decodes a YAML file, strictly when into is a struct.
func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(readFile(t, path)), into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readObject reads a fixture as the map Argo CD hands a script.
func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	var obj map[string]any
	readYAML(t, path, &obj)
	return obj
}

// runLua runs a script the way Argo CD does: the object is the global obj, only the package, base
// and table libraries are open, with Argo CD's reduced os library (date and time only) to require
// as "os" (there is no string library), and a script has a second to finish. It returns what the
// script returned, converted back as Argo CD converts it.
func runLua(script string, obj map[string]any) (any, error) {
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := state.CallByParam(lua.P{Fn: state.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	state.PreloadModule(lua.OsLibName, safeOs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	state.SetContext(ctx)
	state.SetGlobal("obj", toLua(state, obj))
	if err := state.DoString(script); err != nil {
		return nil, err
	}
	return fromLua(state.Get(-1), obj), nil
}

// actionTime is the time the os library of the tests tells: the clock stands still, so an action's
// output can be compared with a fixture.
var actionTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// safeOs loads the os module Argo CD lets scripts require: date and time and nothing else. Argo CD
// copies them from gopher-lua, so these are gopher-lua's own, told actionTime for now.
func safeOs(state *lua.LState) int {
	full := lua.NewState()
	defer full.Close()
	osLib := full.GetGlobal(lua.OsLibName).(*lua.LTable)
	date := osLib.RawGetString("date").(*lua.LFunction).GFunction
	mod := state.SetFuncs(state.NewTable(), map[string]lua.LGFunction{
		"date": func(l *lua.LState) int {
			if l.GetTop() == 0 {
				l.Push(lua.LString("%c"))
			}
			if l.GetTop() == 1 {
				l.Push(lua.LNumber(actionTime.Unix()))
			}
			return date(l)
		},
		"time": func(l *lua.LState) int {
			l.Push(lua.LNumber(actionTime.Unix()))
			return 1
		},
	})
	state.Push(mod)
	return 1
}

func toLua(state *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case map[string]any:
		table := state.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(state, item))
		}
		return table
	case []any:
		table := state.NewTable()
		for _, item := range v {
			table.Append(toLua(state, item))
		}
		return table
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	}
	return lua.LNil
}

// fromLua converts a script's result back. Lua has one table type for lists and maps; like Argo CD,
// an empty table becomes an empty list unless the same place in the input held a map.
func fromLua(value lua.LValue, input any) any {
	switch v := value.(type) {
	case *lua.LTable:
		if n := v.MaxN(); n > 0 {
			inputList, _ := input.([]any)
			list := make([]any, n)
			for i := range n {
				var inputItem any
				if i < len(inputList) {
					inputItem = inputList[i]
				}
				list[i] = fromLua(v.RawGetInt(i+1), inputItem)
			}
			return list
		}
		inputMap, inputWasMap := input.(map[string]any)
		m := map[string]any{}
		v.ForEach(func(key, item lua.LValue) { m[key.String()] = fromLua(item, inputMap[key.String()]) })
		if len(m) == 0 && !inputWasMap {
			return []any{}
		}
		return m
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case lua.LBool:
		return bool(v)
	}
	return nil
}

// decodeAs re-reads a script's result as a Go value, the way Argo CD unmarshals it.
func decodeAs(t *testing.T, result, into any) {
	t.Helper()
	data, err := yaml.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("script returned %s: %v", data, err)
	}
}

func TestHealthChecks(t *testing.T) {
	for _, cases := range uniqueCases() {
		t.Run(cases, func(t *testing.T) {
			script, kinds := healthScript(cases)
			var suite healthCases
			readYAML(t, cases, &suite)
			tested := map[any]bool{}
			for _, tc := range suite.Tests {
				input := filepath.Join(filepath.Dir(cases), tc.InputPath)
				obj := readObject(t, input)
				if kind := obj["kind"]; !slices.Contains(kinds, kind) {
					t.Errorf("%s: kind %v does not use %s", input, kind, script)
				}
				tested[obj["kind"]] = true
				result, err := runLua(readFile(t, script), obj)
				if err != nil {
					t.Errorf("%s on %s: %v", script, input, err)
					continue
				}
				var got healthStatus
				decodeAs(t, result, &got)
				if diff := cmp.Diff(tc.HealthStatus, got); diff != "" {
					t.Errorf("%s on %s (-want +got):\n%s", script, input, diff)
				}
			}
			for _, kind := range kinds {
				if !tested[kind] {
					t.Errorf("no case of %s tests a %s", cases, kind)
				}
			}
		})
	}
}

// uniqueCases lists each health case file once.
func uniqueCases() []string {
	var files []string
	for _, h := range healthChecks {
		if !slices.Contains(files, h.cases) {
			files = append(files, h.cases)
		}
	}
	return files
}

// healthScript is the script a case file tests and the kinds that use it.
func healthScript(cases string) (script string, kinds []any) {
	for _, h := range healthChecks {
		if h.cases == cases {
			script = h.script
			kinds = append(kinds, h.kind)
		}
	}
	return script, kinds
}

func actionScript(t *testing.T, name string) string {
	t.Helper()
	return readFile(t, filepath.Join("actions", name, "action.lua"))
}

// discover runs discovery.lua and returns the actions it offers, sorted by name.
func discover(t *testing.T, obj map[string]any) []discoveredAction {
	t.Helper()
	result, err := runLua(readFile(t, "actions/discovery.lua"), obj)
	if err != nil {
		t.Fatalf("discovery.lua: %v", err)
	}
	var byName map[string]discoveredAction
	decodeAs(t, result, &byName)
	var actions []discoveredAction
	for name, a := range byName {
		a.Name = name
		actions = append(actions, a)
	}
	slices.SortFunc(actions, func(a, b discoveredAction) int { return strings.Compare(a.Name, b.Name) })
	return actions
}

func TestActionDiscovery(t *testing.T) {
	var suite actionTestCases
	readYAML(t, actionCases, &suite)
	for _, tc := range suite.DiscoveryTests {
		t.Run(tc.InputPath, func(t *testing.T) {
			want := slices.Clone(tc.Result)
			slices.SortFunc(want, func(a, b discoveredAction) int { return strings.Compare(a.Name, b.Name) })
			got := discover(t, readObject(t, filepath.Join("actions", tc.InputPath)))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("discovery (-want +got):\n%s", diff)
			}
		})
	}
}

func TestActions(t *testing.T) {
	var suite actionTestCases
	readYAML(t, actionCases, &suite)
	for _, tc := range suite.ActionTests {
		t.Run(tc.Action+" "+tc.InputPath, func(t *testing.T) {
			got, err := runLua(actionScript(t, tc.Action), readObject(t, filepath.Join("actions", tc.InputPath)))
			if tc.ExpectedErrorMessage != "" {
				var apiErr *lua.ApiError
				if !errors.As(err, &apiErr) || apiErr.Object.String() != tc.ExpectedErrorMessage {
					t.Fatalf("error %v, want %q", err, tc.ExpectedErrorMessage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := readObject(t, filepath.Join("actions", tc.ExpectedOutputPath))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.Action, diff)
			}
		})
	}
}

// TestDiscoveryAgreesWithActions runs every action discovery.lua offers on every fixture: an
// offered action must run and change the object, and approve must do what its button says to the
// wave it names, and nothing else: approve it to start, or accept its result.
func TestDiscoveryAgreesWithActions(t *testing.T) {
	fixtures, err := filepath.Glob("actions/testdata/*.yaml")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	offered := 0
	for _, fixture := range fixtures {
		obj := readObject(t, fixture)
		for _, action := range discover(t, obj) {
			if action.Disabled {
				continue
			}
			offered++
			got, err := runLua(actionScript(t, action.Name), readObject(t, fixture))
			if err != nil {
				t.Errorf("%s offered on %s, but fails: %v", action.Name, fixture, err)
				continue
			}
			if cmp.Equal(obj, got) {
				t.Errorf("%s offered on %s, but changes nothing", action.Name, fixture)
			}
			if action.Name == "approve" {
				checkApproval(t, fixture, action.DisplayName, got)
			}
		}
	}
	if offered == 0 {
		t.Fatal("discovery offered no action on any fixture")
	}
}

// TestApproveDecidesAsDiscovery checks that approve/action.lua holds discovery.lua's decide function
// byte for byte: Argo CD runs each script on its own, so the two cannot share it any other way, and
// the button must never offer what the action then does differently.
func TestApproveDecidesAsDiscovery(t *testing.T) {
	decide := func(name, script string) string {
		t.Helper()
		_, body, found := strings.Cut(script, "\nlocal function decide()\n")
		body, _, closed := strings.Cut(body, "\nend\n")
		if !found || !closed {
			t.Fatalf("%s holds no local function decide()", name)
		}
		return body
	}
	discovery := decide("discovery.lua", readFile(t, "actions/discovery.lua"))
	approve := decide("approve/action.lua", actionScript(t, "approve"))
	if diff := cmp.Diff(discovery, approve); diff != "" {
		t.Errorf("decide() differs between discovery.lua and approve/action.lua (-discovery +approve):\n%s", diff)
	}
}

// checkApproval checks that approve on a fixture did what its button says and nothing else: added
// the wave to approvedWaves for "Approve wave X", to acceptedWaves for "Accept the result of wave X",
// and recorded that in status.interventions as Argo CD.
func checkApproval(t *testing.T, fixture, button string, got any) {
	t.Helper()
	list, action, wave := "approvedWaves", "Approve", ""
	if name, ok := strings.CutPrefix(button, "Approve wave "); ok {
		wave = name
	} else if name, ok := strings.CutPrefix(button, "Accept the result of wave "); ok {
		list, action, wave = "acceptedWaves", "Accept", name
	} else {
		t.Fatalf("approve on %s: button %q says neither approve nor accept", fixture, button)
	}
	want := readObject(t, fixture)
	status, _ := want["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
		want["status"] = status
	}
	names, _ := status[list].([]any)
	status[list] = append(names, wave)
	entries, _ := status["interventions"].([]any)
	status["interventions"] = append(entries, map[string]any{
		"action": action, "wave": wave, "user": argocdUser, "time": actionTime.Format(time.RFC3339),
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("approve on %s offers %q (-want +got):\n%s", fixture, button, diff)
	}
}

// argocdUser is who Argo CD's actions record in status.interventions: in-cluster, Argo CD runs
// resource actions in argocd-server, with its ServiceAccount's credentials.
const argocdUser = "system:serviceaccount:argocd:argocd-server"

// TestStatusActionsRecordArgoCD checks that approve, abort and retry name one and the same user in
// the entries they write, argocdUser: the one line to change when Argo CD reaches the cluster as
// another identity.
func TestStatusActionsRecordArgoCD(t *testing.T) {
	want := `local argocdUser = "` + argocdUser + `"` + "\n"
	for _, name := range []string{"abort", "approve", "retry"} {
		if script := actionScript(t, name); strings.Count(script, want) != 1 || strings.Count(script, "user = argocdUser") != 1 {
			t.Errorf("actions/%s/action.lua does not define %q once and record it once", name, strings.TrimSpace(want))
		}
	}
}

// TestFixturesAreObjects decodes every fixture strictly into its Go type, so a misspelt field
// cannot make a case test an object the API server would never hold.
func TestFixturesAreObjects(t *testing.T) {
	fixtures, err := filepath.Glob("*/testdata/*.yaml")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, fixture := range fixtures {
		var typed any
		switch kind := readObject(t, fixture)["kind"]; kind {
		case "FirmwareImage":
			typed = &v1.FirmwareImage{}
		case "Manifest":
			typed = &v1.Manifest{}
		case "UpdateCampaign":
			typed = &v1.UpdateCampaign{}
		default:
			t.Errorf("%s: kind %v is not a fleetwave kind", fixture, kind)
			continue
		}
		readYAML(t, fixture, typed)
	}
}

// resourceActions is the value of argocd-cm's resource.customizations.actions.<group>_<kind>.
type resourceActions struct {
	DiscoveryLua string `json:"discovery.lua"`
	Definitions  []struct {
		Name      string `json:"name"`
		ActionLua string `json:"action.lua"`
	} `json:"definitions"`
}

func TestConfigMapPatch(t *testing.T) {
	want := renderConfigMapPatch(t)
	if *update {
		if err := os.WriteFile(configMapPatch, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readFile(t, configMapPatch)
	if got != want {
		t.Errorf("%s is not what the scripts make; run go test ./config/argocd -update (-want +got):\n%s",
			configMapPatch, cmp.Diff(want, got))
	}

	// Argo CD reads the scripts out of the ConfigMap: they must come back byte for byte.
	var cm corev1.ConfigMap
	readYAML(t, configMapPatch, &cm)
	keys := []string{actionsKey()}
	for _, h := range healthChecks {
		key := healthKey(h.kind)
		keys = append(keys, key)
		if cm.Data[key] != readFile(t, h.script) {
			t.Errorf("%s does not hold %s exactly", key, h.script)
		}
	}
	var actions resourceActions
	if err := yaml.UnmarshalStrict([]byte(cm.Data[actionsKey()]), &actions); err != nil {
		t.Fatalf("%s: %v", actionsKey(), err)
	}
	if actions.DiscoveryLua != readFile(t, "actions/discovery.lua") {
		t.Errorf("%s does not hold actions/discovery.lua exactly", actionsKey())
	}
	var names []string
	for _, d := range actions.Definitions {
		names = append(names, d.Name)
		if d.ActionLua != actionScript(t, d.Name) {
			t.Errorf("%s: action %s does not hold actions/%s/action.lua exactly", actionsKey(), d.Name, d.Name)
		}
	}
	if !slices.Equal(names, actionNames) {
		t.Errorf("%s defines actions %v, want %v", actionsKey(), names, actionNames)
	}
	slices.Sort(keys)
	if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, keys) {
		t.Errorf("%s has keys %v, want %v", configMapPatch, got, keys)
	}
}
