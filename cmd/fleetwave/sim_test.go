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
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
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
