// Package cli measures the offline fleetwave binary as users run it, one whole process per command:
// wall time and peak resident memory of `fleetwave manifest create` of a 1 MiB payload and of
// `fleetwave manifest verify` of the manifest it made. Each benchmark reports the medians of its
// runs, so the claims in the README can be re-measured:
//
//	go test ./test/cli -run '^$' -bench . -benchtime 10x
//
// Benchmarks measure; they assert only that the commands succeed.
package cli

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// payloadSize is the firmware image the manifest describes.
const payloadSize = 1 << 20

// fixture is the binary under test and the files its commands read and write.
type fixture struct {
	bin, key, cert, payload, manifest string
}

func BenchmarkManifestCreate(b *testing.B) {
	f := newFixture(b)
	measure(b, f.bin, f.createArgs()...)
}

func BenchmarkManifestVerify(b *testing.B) {
	f := newFixture(b)
	run(b, f.bin, f.createArgs()...)
	measure(b, f.bin, "manifest", "verify", "--cert", f.cert, f.manifest)
}

// newFixture builds cmd/fleetwave as `make build` does, makes a signing key with `fleetwave init`
// and writes a random payload.
func newFixture(b *testing.B) fixture {
	b.Helper()
	dir := b.TempDir()
	f := fixture{
		bin:      filepath.Join(dir, "fleetwave"),
		key:      filepath.Join(dir, "keys", "update.key.pem"),
		cert:     filepath.Join(dir, "keys", "update.crt.pem"),
		payload:  filepath.Join(dir, "fw.bin"),
		manifest: filepath.Join(dir, "fw.manifest"),
	}
	build := exec.Command("go", "build", "-o", f.bin, "./cmd/fleetwave")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building fleetwave: %v\n%s", err, out)
	}
	run(b, f.bin, "init", "--domain", "example.com", "--model", "thermostat", "--out", filepath.Join(dir, "keys"))
	if err := os.WriteFile(f.payload, randomBytes(b, payloadSize), 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

func (f fixture) createArgs() []string {
	return []string{"manifest", "create", "--key", f.key, "--payload", f.payload, "--url", "https://example.com/fw.bin",
		"--version", "1.2.3", "--domain", "example.com", "--model", "thermostat", "-o", f.manifest}
}

func randomBytes(b *testing.B, n int) []byte {
	b.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	return data
}

// measure runs the command b.N times and reports the median wall time and peak RSS of its processes.
func measure(b *testing.B, name string, args ...string) {
	b.Helper()
	walls := make([]float64, 0, b.N)
	peaks := make([]float64, 0, b.N)
	b.ResetTimer()
	for range b.N {
		wall, peak := run(b, name, args...)
		walls = append(walls, float64(wall.Microseconds())/1000)
		peaks = append(peaks, float64(peak)/(1<<20))
	}
	b.StopTimer()
	b.ReportMetric(median(walls), "ms-median-wall")
	b.ReportMetric(median(peaks), "MiB-median-peak-RSS")
}

// run runs one command to its end and returns its wall time and peak resident set size in bytes.
func run(b *testing.B, name string, args ...string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command(name, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage for the process on this system")
	}
	return wall, usage.Maxrss << 10 // Linux reports ru_maxrss in KiB
}

func median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
