package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	base := parseFlags(nil)
	cases := []struct {
		name    string
		change  func(*options)
		wantErr string // "" means valid
	}{
		{"defaults", func(*options) {}, ""},
		{"local simulator", func(o *options) { o.updateServiceURL = "http://127.0.0.1:8090" }, ""},
		{"url without scheme", func(o *options) { o.updateServiceURL = "api.example.com" }, "--update-service-url"},
		{"url of another scheme", func(o *options) { o.updateServiceURL = "ftp://api.example.com" }, "--update-service-url"},
		{"plain http to a remote host", func(o *options) { o.updateServiceURL = "http://api.example.com" }, "--update-service-url"},
		{"secret without namespace", func(o *options) { o.apiKeySecret = "fleetwave-api-key" }, "--api-key-secret"},
		{"secret with empty name", func(o *options) { o.apiKeySecret = "fleetwave-system/" }, "--api-key-secret"},
		{"secret with extra slash", func(o *options) { o.apiKeySecret = "a/b/c" }, "--api-key-secret"},
		{"empty secret key", func(o *options) { o.apiKeySecretKey = "" }, "--api-key-secret-key"},
		{"hot poll loop", func(o *options) { o.pollInterval = 10 * time.Millisecond }, "--campaign-poll-interval"},
		{"lease shorter than renewal", func(o *options) { o.leaderElection.leaseDuration = 5 * time.Second }, "--leader-elect-lease-duration"},
		{"no devices per campaign", func(o *options) { o.devicesPerRemote = 0 }, "--devices-per-remote-campaign"},
		{"no reconciles at all", func(o *options) { o.concurrency = 0 }, "--max-concurrent-reconciles"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.change(&o)
			ref, err := o.validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got error %v, want one naming %s", err, tc.wantErr)
			case tc.wantErr == "" && ref.String() != o.apiKeySecret:
				t.Fatalf("secret reference %q, want %q", ref, o.apiKeySecret)
			}
		})
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	o := parseFlags([]string{"--leader-elect", "--api-key-secret=ops/pelion"})
	if !o.leaderElect || o.apiKeySecret != "ops/pelion" {
		t.Errorf("flags not applied: leaderElect=%v apiKeySecret=%q", o.leaderElect, o.apiKeySecret)
	}
	if o.updateServiceURL != defaultUpdateServiceURL || o.metricsAddr != "0" || !o.secureMetrics || o.enableHTTP2 {
		t.Errorf("unexpected defaults: %+v", o)
	}
}

func TestParseFlagsNamespaces(t *testing.T) {
	if o := parseFlags(nil); o.namespaces != nil {
		t.Errorf("no --namespaces gives %q, want nil (every namespace)", o.namespaces)
	}
	o := parseFlags([]string{"--namespaces= team-a,team-b,,team-a ,"})
	if want := []string{"team-a", "team-b"}; !slices.Equal(o.namespaces, want) {
		t.Errorf("--namespaces gives %q, want %q", o.namespaces, want)
	}
	if o := parseFlags([]string{"--namespaces="}); o.namespaces != nil {
		t.Errorf("an empty --namespaces gives %q, want nil (every namespace)", o.namespaces)
	}
}

func TestSigningKeySecretsWatchedOnlyWithNamespaces(t *testing.T) {
	if parseFlags(nil).watchSigningKeySecrets() {
		t.Error("without --namespaces the operator watches Secrets: the cluster-wide install grants get alone")
	}
	if !parseFlags([]string{"--namespaces=team-a"}).watchSigningKeySecrets() {
		t.Error("with --namespaces the operator does not watch labelled signing key Secrets")
	}
}

func TestParseNamespacesRefusesWhatIsNoNamespace(t *testing.T) {
	for _, bad := range []string{"Team-A", "team_a", "team-a,-b", "a/b", strings.Repeat("n", 64)} {
		if got, err := parseNamespaces(bad); err == nil {
			t.Errorf("parseNamespaces(%q) = %q, want an error", bad, got)
		}
	}
}

func TestImageSourceFlags(t *testing.T) {
	o := parseFlags(nil).images
	if !o.allow.Empty() || o.allowHTTP || o.maxSize != 1<<30 || o.downloadTimeout != 30*time.Minute || o.spoolDir != os.TempDir() {
		t.Errorf("image source defaults: %+v", o)
	}
	dir := t.TempDir()
	o = parseFlags([]string{"--image-source-allow=127.0.0.1/32, artifacts.internal", "--image-source-allow-http",
		"--max-image-size=512Mi", "--image-download-timeout=5m", "--spool-dir=" + dir}).images
	if o.allow.String() != "127.0.0.1/32,artifacts.internal" || !o.allowHTTP || o.maxSize != 512<<20 ||
		o.downloadTimeout != 5*time.Minute || o.spoolDir != dir {
		t.Errorf("image source flags not applied: %+v", o)
	}
	if err := o.validate(); err != nil {
		t.Errorf("valid image source flags: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("validating --spool-dir left %d files behind", len(left))
	}
}

func TestImageSourceFlagsRefuseBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--image-source-allow=*.example.com"},
		{"--image-source-allow=10.0.0.0/33"},
		{"--max-image-size=0"},
		{"--max-image-size=-1Gi"},
		{"--max-image-size=1m"}, // a thousandth of a byte
		{"--max-image-size=lots"},
	} {
		var o imageSourceOptions
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.bindFlags(fs)
		if err := fs.Parse(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	base := parseFlags(nil).images
	cases := []struct {
		name    string
		change  func(*imageSourceOptions)
		wantErr string
	}{
		{"http without an allow-list", func(o *imageSourceOptions) { o.allowHTTP = true }, "--image-source-allow-http"},
		{"no time to download", func(o *imageSourceOptions) { o.downloadTimeout = 10 * time.Millisecond }, "--image-download-timeout"},
		{"missing spool directory", func(o *imageSourceOptions) { o.spoolDir = filepath.Join(t.TempDir(), "missing") }, "--spool-dir"},
	}
	for _, tc := range cases {
		o := base
		tc.change(&o)
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: got %v, want an error naming %s", tc.name, err, tc.wantErr)
		}
	}
}

func TestSoftMemoryLimitIsNinetyPercentOfTheContainers(t *testing.T) {
	cases := map[string]int64{
		"268435456\n": 241591911, // 256Mi
		"max\n":       0,
		"":            0,
		"-1":          0,
		"garbage":     0,
	}
	for in, want := range cases {
		if got := softMemoryLimit(in); got != want {
			t.Errorf("softMemoryLimit(%q) = %d, want %d", in, got, want)
		}
	}
}
