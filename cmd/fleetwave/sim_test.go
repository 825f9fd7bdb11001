package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/testserver"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSimServesTheConfiguredFleet(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	opts := simOptions{
		listen:     "127.0.0.1:0",
		apiKeyFile: writeFile(t, "key", []byte("ak_cli_test\n")),
		devices:    12,
		identity:   identityFlags{domain: "example.com", model: "widget"},
		installed:  "1.0.0",
		trustKeys:  []string{writeFile(t, "pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))},
		seed:       7,
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- runSim(ctx, opts, &out, ready) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("sim exited: %v", err)
	}

	client, err := pelion.New(url, "ak_cli_test")
	if err != nil {
		t.Fatal(err)
	}
	vendor, _ := manifest.VendorIDFromDomain("example.com")
	class, _ := manifest.ClassIDFromModel(vendor, "widget")
	page, err := client.ListDevices(ctx, pelion.ListOptions{IncludeTotalCount: true,
		Filter: pelion.Filter{}.Eq("vendor_id", hex.EncodeToString(vendor[:])).Eq("device_class", hex.EncodeToString(class[:]))})
	if err != nil || page.TotalCount == nil || *page.TotalCount != 12 {
		t.Fatalf("devices: %v %+v", err, page)
	}
	wrong, _ := pelion.New(url, "ak_other")
	if _, err := wrong.ListDevices(ctx, pelion.ListOptions{}); !pelion.IsUnauthorized(err) {
		t.Errorf("wrong key: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if !strings.Contains(out.String(), "12 devices") || strings.Contains(out.String(), "ak_cli_test") {
		t.Errorf("banner %q", out.String())
	}
}

func TestSimConfigErrors(t *testing.T) {
	keyFile := writeFile(t, "key", []byte("ak"))
	tests := []struct {
		name string
		opts simOptions
		want string
	}{
		{"no vendor", simOptions{apiKeyFile: keyFile, identity: identityFlags{model: "m"}, installed: "1.0.0"}, "--domain or --vendor-id"},
		{"no class", simOptions{apiKeyFile: keyFile, identity: identityFlags{domain: "example.com"}, installed: "1.0.0"}, "--model or --class-id"},
		{"bad vendor", simOptions{apiKeyFile: keyFile, identity: identityFlags{vendorID: "zz", model: "m"}, installed: "1.0.0"}, "--vendor-id"},
		{"bad installed version", simOptions{apiKeyFile: keyFile, identity: identityFlags{domain: "example.com", model: "m"}, installed: "1.x"}, "--installed-version"},
		{"empty key", simOptions{apiKeyFile: writeFile(t, "empty", []byte("\n")), identity: identityFlags{domain: "example.com", model: "m"}, installed: "1.0.0"}, "empty"},
		{"bad trust key", simOptions{apiKeyFile: keyFile, identity: identityFlags{domain: "example.com", model: "m"}, installed: "1.0.0", trustKeys: []string{writeFile(t, "k", []byte("nope"))}}, "--trust-key"},
		{"missing profile", simOptions{apiKeyFile: keyFile, identity: identityFlags{domain: "example.com", model: "m"}, installed: "1.0.0", profile: "/nonexistent/profile.json"}, "profile"},
	}
	for _, tc := range tests {
		if _, err := simConfig(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestSimCommandRequiresAnAPIKeyFile(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"sim", "--domain", "example.com", "--model", "m"})
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "api-key-file") {
		t.Errorf("got %v", err)
	}
}

// startSim runs `fleetwave sim` with opts until the test ends and returns its URL.
func startSim(t *testing.T, opts simOptions) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runSim(ctx, opts, io.Discard, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	select {
	case url := <-ready:
		return url
	case err := <-done:
		t.Fatalf("sim exited: %v", err)
		return ""
	}
}

// trickleRequest sends a POST's headers, declaring a body of length bytes, and then body a byte every
// 20ms; see testserver.Trickle.
func trickleRequest(t *testing.T, addr, apiKey string, length int, body []byte) (string, time.Duration) {
	t.Helper()
	head := fmt.Sprintf("POST /v3/update-campaigns HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", apiKey, length)
	return testserver.Trickle(t, addr, head, body, 20*time.Millisecond)
}

// `fleetwave sim` serves with read timeouts: a client trickling its request body is answered 408
// once the configured bound passes, instead of holding the connection open.
func TestSimCommandCutsOffTrickledRequests(t *testing.T) {
	const bound = 300 * time.Millisecond
	opts := simOptions{
		listen:     "127.0.0.1:0",
		apiKeyFile: writeFile(t, "key", []byte("ak_cli_test\n")),
		devices:    1,
		identity:   identityFlags{domain: "example.com", model: "widget"},
		installed:  "1.0.0",
		timeouts:   sim.Timeouts{ReadHeader: time.Minute, Read: bound, BodyIdle: time.Minute, Idle: time.Minute},
	}
	url := startSim(t, opts)
	body := []byte(strings.Repeat(" ", 1000) + "{}")
	got, took := trickleRequest(t, strings.TrimPrefix(url, "http://"), "ak_cli_test", len(body), body)
	if got != "HTTP/1.1 408 Request Timeout" || took > 3*time.Second {
		t.Errorf("trickled body: %q after %v, want a 408 after about %v", got, took, bound)
	}

	// A body that stops arriving ends after --body-idle-timeout.
	opts.timeouts = sim.Timeouts{ReadHeader: time.Minute, Read: time.Minute, BodyIdle: bound, Idle: time.Minute}
	url = startSim(t, opts)
	got, took = trickleRequest(t, strings.TrimPrefix(url, "http://"), "ak_cli_test", 100, []byte("{"))
	if got != "HTTP/1.1 408 Request Timeout" || took > 3*time.Second {
		t.Errorf("stalled body: %q after %v, want a 408 after about %v", got, took, bound)
	}
}

func TestSimCommandTimeoutFlags(t *testing.T) {
	cmd := newSimCmd()
	def := sim.DefaultTimeouts()
	for name, want := range map[string]time.Duration{
		"read-header-timeout": def.ReadHeader, "read-timeout": def.Read, "body-idle-timeout": def.BodyIdle, "idle-timeout": def.Idle,
	} {
		f := cmd.Flags().Lookup(name)
		if f == nil || want <= 0 || f.DefValue != want.String() {
			t.Errorf("--%s: %+v, want a default of %v", name, f, want)
		}
	}
}
