package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/delta"
)

// deltaImages writes an old image and a rebuild of it with a few bytes changed and inserted.
func deltaImages(t *testing.T, dir string) (oldPath, newPath string, old, img []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	old = make([]byte, 64<<10)
	for i := range old {
		old[i] = byte(rng.IntN(16)) // a small alphabet, like code
	}
	img = bytes.Clone(old)
	img[1000], img[40000] = 0xaa, 0xbb
	img = append(img[:20000], append([]byte("inserted"), img[20000:]...)...)
	return writeTemp(t, dir, "old.bin", old), writeTemp(t, dir, "new.bin", img), old, img
}

func TestDeltaCreateThenApply(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath, old, img := deltaImages(t, dir)
	patchPath := filepath.Join(dir, "delta.bin")
	out := mustRun(t, "delta", "create", "--from", oldPath, "--to", newPath, "-o", patchPath, "--block-size", "1024")

	patch, err := os.ReadFile(patchPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("wrote %s: %d bytes, block size 1024", patchPath, len(patch)),
		fmt.Sprintf("%d bytes, sha256 %x", len(old), sha256.Sum256(old)),
		fmt.Sprintf("%d bytes, sha256 %x", len(img), sha256.Sum256(img)),
		fmt.Sprintf("worth it: the patch is %.1f%% of the new image, below the 60%% threshold",
			100*float64(len(patch))/float64(len(img))),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(patch) >= len(img)/10 {
		t.Errorf("patch of %d bytes for a %d-byte image with three edits", len(patch), len(img))
	}

	appliedPath := filepath.Join(dir, "applied.bin")
	out = mustRun(t, "delta", "apply", "--from", oldPath, "--patch", patchPath, "-o", appliedPath)
	applied, err := os.ReadFile(appliedPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(applied, img) {
		t.Fatal("the applied image differs from the new image")
	}
	if want := fmt.Sprintf("%d bytes, sha256 %x", len(img), sha256.Sum256(img)); !strings.Contains(out, want) {
		t.Errorf("apply output lacks %q:\n%s", want, out)
	}
}

// A patch that is not worth sending is refused, as manifest-delta-tool refuses it, unless asked for.
func TestDeltaCreateNotWorthIt(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	unrelated := make([]byte, 16<<10)
	for i := range unrelated {
		unrelated[i] = byte(rng.Uint32())
	}
	oldPath, _, _, _ := deltaImages(t, dir)
	newPath := writeTemp(t, dir, "unrelated.bin", unrelated)
	patchPath := filepath.Join(dir, "delta.bin")

	out, err := runFleetwave(t, "delta", "create", "--from", oldPath, "--to", newPath, "-o", patchPath)
	if err == nil || !strings.Contains(err.Error(), "not worth it") || !strings.Contains(err.Error(), "--skip-size-check") {
		t.Fatalf("err = %v, want a refusal naming --skip-size-check\n%s", err, out)
	}
	if _, err := os.Stat(patchPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused patch was written: %v", err)
	}

	out = mustRun(t, "delta", "create", "--from", oldPath, "--to", newPath, "-o", patchPath, "--skip-size-check")
	if !strings.Contains(out, "not worth it: the patch is 10") {
		t.Errorf("output does not say the patch is not worth it:\n%s", out)
	}
	if _, err := os.Stat(patchPath); err != nil {
		t.Fatalf("--skip-size-check did not write the patch: %v", err)
	}
}

func TestDeltaCreateRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath, _, _ := deltaImages(t, dir)
	large := filepath.Join(dir, "large.bin")
	if err := os.WriteFile(large, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(large, delta.MaxImageSize+1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	empty := writeTemp(t, dir, "empty.bin", nil)
	out := filepath.Join(dir, "delta.bin")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"block size too small", []string{"--from", oldPath, "--to", newPath, "-o", out, "--block-size", "63"}, "--block-size 63"},
		{"threshold out of range", []string{"--from", oldPath, "--to", newPath, "-o", out, "--threshold", "100"}, "--threshold 100"},
		{"old image too large", []string{"--from", large, "--to", newPath, "-o", out}, "larger than 32 MiB"},
		{"new image empty", []string{"--from", oldPath, "--to", empty, "-o", out}, "empty"},
		{"missing image", []string{"--from", filepath.Join(dir, "nope"), "--to", newPath, "-o", out}, "--from"},
	}
	for _, c := range cases {
		_, err := runFleetwave(t, append([]string{"delta", "create"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming %q", c.name, err, c.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused run wrote a patch: %v", err)
	}
}

// A corrupted patch, or a patch applied to an image it was not made for, writes nothing.
func TestDeltaApplyRefusesBadPatches(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath, old, _ := deltaImages(t, dir)
	patchPath := filepath.Join(dir, "delta.bin")
	mustRun(t, "delta", "create", "--from", oldPath, "--to", newPath, "-o", patchPath)
	patch, err := os.ReadFile(patchPath)
	if err != nil {
		t.Fatal(err)
	}
	cut := writeTemp(t, dir, "cut.bin", patch[:len(patch)-1])
	trailing := writeTemp(t, dir, "trailing.bin", append(bytes.Clone(patch), 0))
	shortOld := writeTemp(t, dir, "short-old.bin", old[:100])
	out := filepath.Join(dir, "applied.bin")
	cases := []struct {
		name          string
		from, patch   string
		wantInMessage string
	}{
		{"cut short", oldPath, cut, "patch ends early"},
		{"trailing bytes", oldPath, trailing, "bytes after the last record"},
		{"another old image", shortOld, patchPath, "outside the old image"},
		{"not a patch", oldPath, oldPath, "wrong magic"},
	}
	for _, c := range cases {
		_, err := runFleetwave(t, "delta", "apply", "--from", c.from, "--patch", c.patch, "-o", out)
		if err == nil || !strings.Contains(err.Error(), c.wantInMessage) {
			t.Errorf("%s: err = %v, want one saying %q", c.name, err, c.wantInMessage)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused patch wrote an image: %v", err)
	}
}
