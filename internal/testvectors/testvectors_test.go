package testvectors

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetwave/fleetwave/internal/repo"
)

// recorder stands in for a test to observe how Dir reacts to missing vectors.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

func TestDirHonoursTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "v.hex"), []byte("00 ff\n10"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvVar, dir)
	if got := Dir(t); got != dir {
		t.Errorf("Dir = %q, want %q", got, dir)
	}
	if got := ReadHex(t, "v.hex"); string(got) != "\x00\xff\x10" {
		t.Errorf("ReadHex = %x", got)
	}
}

func TestMissingVectorsFailUnderCIAndSkipOtherwise(t *testing.T) {
	t.Setenv(EnvVar, filepath.Join(t.TempDir(), "missing"))
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	Dir(r)
	if r.fatal == "" || r.skip != "" {
		t.Errorf("under CI: fatal %q, skip %q; want a failure", r.fatal, r.skip)
	}
	t.Setenv("CI", "")
	r = &recorder{TB: t}
	Dir(r)
	if r.skip == "" || r.fatal != "" {
		t.Errorf("outside CI: fatal %q, skip %q; want a skip", r.fatal, r.skip)
	}
}

func TestDefaultLocationIsBesideTheRepository(t *testing.T) {
	t.Setenv(EnvVar, "")
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo.Root %q has no go.mod", root)
	}
	want := filepath.Join(root, "..", "shared", "vectors")
	got, err := locate()
	if err != nil {
		// The same rule as Dir: missing vectors fail under CI, skip elsewhere.
		if os.Getenv("CI") != "" {
			t.Fatalf("no vectors at the default location %s: %v", want, err)
		}
		t.Skipf("no vectors at the default location %s: %v", want, err)
	}
	if abs, _ := filepath.Abs(want); got != abs {
		t.Errorf("locate = %q, want %q", got, abs)
	}
}
