package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// endless is a file that never ends.
const endless = "/dev/zero"

// oversized writes a sparse file one byte longer than limit.
func oversized(t *testing.T, name string, limit int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, limit+1); err != nil {
		t.Fatal(err)
	}
	return path
}

// boundedRead runs fn, which must fail promptly and without loading much. An unbounded read of an
// endless file grows until memory runs out, so when the heap grows by more than 256 MiB, or fn is
// still running after 10s, boundedRead stops the test binary rather than let it grow.
func boundedRead(t *testing.T, fn func() error) error {
	t.Helper()
	const maxGrowth = 256 << 20
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	start := heap()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if h := heap(); h > start+maxGrowth {
				panic(fmt.Sprintf("%s: the heap grew by %d MiB: the read is not bounded", t.Name(), (h-start)>>20))
			}
		case <-deadline:
			panic(fmt.Sprintf("%s: still reading after 10s: the read is not bounded", t.Name()))
		}
	}
}

func wantTooLarge(t *testing.T, err error, path, limit string) {
	t.Helper()
	if err == nil {
		t.Fatalf("reading %s succeeded", path)
	}
	for _, want := range []string{path, limit, "larger than"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestCLIBoundsTheFilesItReads(t *testing.T) {
	if _, err := os.Stat(endless); err != nil {
		t.Skipf("no %s: %v", endless, err)
	}
	ec := ecSigningFiles(t)
	dir := t.TempDir()
	payload := writeTemp(t, dir, "fw.bin", []byte("firmware"))
	m := filepath.Join(dir, "fw.manifest")
	create := []string{"manifest", "create", "--payload", payload, "--url", "https://x.example/fw", "--version", "1.0.0",
		"--domain", "example.com", "--model", "m", "-o", filepath.Join(dir, "out")}
	mustRun(t, append(append([]string{}, create...), "--key", ec.key, "-o", m)...)
	bigKey := oversized(t, "big.key.pem", maxKeyFile)
	bigManifest := oversized(t, "big.manifest", maxManifestFile)
	tests := []struct {
		name        string
		args        []string
		path, limit string
	}{
		{"verify --key endless", []string{"manifest", "verify", "--key", endless, m}, endless, "1 MiB"},
		{"verify --cert endless", []string{"manifest", "verify", "--cert", endless, m}, endless, "1 MiB"},
		{"verify --key oversized", []string{"manifest", "verify", "--key", bigKey, m}, bigKey, "1 MiB"},
		{"verify endless manifest", []string{"manifest", "verify", "--key", ec.pub, endless}, endless, "64 KiB"},
		{"inspect endless manifest", []string{"manifest", "inspect", endless}, endless, "64 KiB"},
		{"inspect oversized manifest", []string{"manifest", "inspect", bigManifest}, bigManifest, "64 KiB"},
		{"create --key endless", append(append([]string{}, create...), "--key", endless), endless, "1 MiB"},
		{"create --key oversized", append(append([]string{}, create...), "--key", bigKey), bigKey, "1 MiB"},
		{"create --vendor-data endless", append(append([]string{}, create...), "--key", ec.key, "--vendor-data", endless), endless, "2 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := boundedRead(t, func() error { _, err := runFleetwave(t, tt.args...); return err })
			wantTooLarge(t, err, tt.path, tt.limit)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Error("a failed create left an output file")
	}
}

func TestSimBoundsTheFilesItReads(t *testing.T) {
	if _, err := os.Stat(endless); err != nil {
		t.Skipf("no %s: %v", endless, err)
	}
	base := simOptions{apiKeyFile: writeFile(t, "key", []byte("ak")), identity: identityFlags{domain: "example.com", model: "m"}, installed: "1.0.0"}
	bigKey := oversized(t, "big.pem", maxKeyFile)
	tests := []struct {
		name        string
		change      func(*simOptions)
		path, limit string
	}{
		{"endless API key", func(o *simOptions) { o.apiKeyFile = endless }, endless, "1 MiB"},
		{"oversized API key", func(o *simOptions) { o.apiKeyFile = bigKey }, bigKey, "1 MiB"},
		{"endless trust key", func(o *simOptions) { o.trustKeys = []string{endless} }, endless, "1 MiB"},
		{"oversized trust key", func(o *simOptions) { o.trustKeys = []string{bigKey} }, bigKey, "1 MiB"},
		{"endless profile", func(o *simOptions) { o.profile = endless }, endless, "1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.change(&o)
			err := boundedRead(t, func() error { _, err := simConfig(o); return err })
			wantTooLarge(t, err, tt.path, tt.limit)
		})
	}
}
