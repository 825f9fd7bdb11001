package observability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// logLine is one line the operator logged, as JSON.
type logLine map[string]any

func (l logLine) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// checkLogs checks the operator's output as shipped: every line a JSON object with a level, a time and
// a message; every line of an UpdateCampaign reconcile naming the campaign under the key campaign;
// the waves it started under the key wave; the Update Service campaigns it created, started or stopped
// under the key remoteCampaign (by the name or the id the simulator knows them by); and never the
// API key.
func checkLogs(t *testing.T, r *rollout) {
	if bytes.Contains(r.logs, []byte(r.apiKey)) {
		t.Error("the operator logged the Update Service API key")
	}
	lines := parseLogs(t, r.logs)
	reconciles, waves, remotes := 0, map[string]bool{}, 0
	known := remoteCampaignNames(t, r)
	for _, l := range lines {
		if l.str("controller") == "updatecampaign" && l.str("reconcileID") != "" {
			reconciles++
			if got := l.str("campaign"); got != r.campaign.Name {
				t.Errorf("an UpdateCampaign reconcile logged campaign=%q, want %q: %v", got, r.campaign.Name, l)
			}
		}
		if w := l.str("wave"); w != "" {
			waves[w] = true
		}
		if rc, ok := l["remoteCampaign"]; ok {
			remotes++
			if s, _ := rc.(string); !known[s] {
				t.Errorf("remoteCampaign=%v names no campaign the Update Service has: %v", rc, l)
			}
		}
	}
	if reconciles == 0 {
		t.Error("no log line of an UpdateCampaign reconcile (controller=updatecampaign with a reconcileID)")
	}
	for _, w := range r.campaign.Status.Waves {
		if w.StartedAt != nil && !waves[w.Name] {
			t.Errorf("wave %s started, but no log line has wave=%q", w.Name, w.Name)
		}
	}
	if remotes == 0 {
		t.Errorf("no log line has the key remoteCampaign, though the operator created %d Update Service campaigns", len(r.ledger.Campaigns))
	}
}

// parseLogs reads the operator's output as JSON lines, failing on any that is not a JSON object with
// level, ts and msg.
func parseLogs(t *testing.T, out []byte) []logLine {
	t.Helper()
	var lines []logLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("not a JSON log line (%v): %s", err, sc.Text())
			continue
		}
		for _, key := range []string{"level", "ts", "msg"} {
			if _, ok := l[key]; !ok {
				t.Errorf("log line without %q: %s", key, sc.Text())
			}
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal("the operator logged nothing")
	}
	return lines
}

// remoteCampaignNames are the names and ids of the Update Service campaigns the simulator created.
func remoteCampaignNames(t *testing.T, r *rollout) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, c := range r.ledger.Campaigns {
		known[c.ID], known[c.Name] = true, true
	}
	if len(known) == 0 {
		t.Fatalf("the simulator created no campaign for %s", r.campaign.Name)
	}
	return known
}
