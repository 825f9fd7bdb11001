package main

import (
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
		{"secret without namespace", func(o *options) { o.apiKeySecret = "fleetwave-api-key" }, "--api-key-secret"},
		{"secret with empty name", func(o *options) { o.apiKeySecret = "fleetwave-system/" }, "--api-key-secret"},
		{"secret with extra slash", func(o *options) { o.apiKeySecret = "a/b/c" }, "--api-key-secret"},
		{"empty secret key", func(o *options) { o.apiKeySecretKey = "" }, "--api-key-secret-key"},
		{"hot poll loop", func(o *options) { o.pollInterval = 10 * time.Millisecond }, "--campaign-poll-interval"},
		{"lease shorter than renewal", func(o *options) { o.leaderElection.leaseDuration = 5 * time.Second }, "--leader-elect-lease-duration"},
		{"no devices per campaign", func(o *options) { o.devicesPerRemote = 0 }, "--devices-per-remote-campaign"},
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
