// Package testvectors locates the shared public test vectors for tests.
//
// The vectors live outside the repository (../shared/vectors next to the repository root) and are never
// copied into it. $FLEETWAVE_VECTORS overrides the location. When the vectors are missing, tests skip —
// except under CI (the CI environment variable is set), where a missing vector directory is a failure.
package testvectors

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/repo"
)

// EnvVar names the environment variable that points at the vector directory.
const EnvVar = "FLEETWAVE_VECTORS"

// Dir returns the vector directory, skipping the test (or failing it under CI) when it does not exist.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := locate()
	if err == nil {
		return dir
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("test vectors are required under CI: %v", err)
	} else {
		tb.Skipf("test vectors not available (set %s): %v", EnvVar, err)
	}
	return ""
}

// Path joins parts onto the vector directory.
func Path(tb testing.TB, parts ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Dir(tb)}, parts...)...)
}

// Read returns the contents of a vector file; a missing file fails the test.
func Read(tb testing.TB, parts ...string) []byte {
	tb.Helper()
	data, err := os.ReadFile(Path(tb, parts...))
	if err != nil {
		tb.Fatalf("reading vector: %v", err)
	}
	return data
}

// ReadHex returns the bytes of a hex-encoded vector file, ignoring whitespace.
func ReadHex(tb testing.TB, parts ...string) []byte {
	tb.Helper()
	text := strings.Join(strings.Fields(string(Read(tb, parts...))), "")
	data, err := hex.DecodeString(text)
	if err != nil {
		tb.Fatalf("decoding hex vector %s: %v", filepath.Join(parts...), err)
	}
	return data
}

func locate() (string, error) {
	if dir := os.Getenv(EnvVar); dir != "" {
		return checkDir(dir)
	}
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	return checkDir(filepath.Join(root, "..", "shared", "vectors"))
}

func checkDir(dir string) (string, error) {
	info, err := os.Stat(dir) //nolint:gosec // tests read vectors from wherever the developer or CI points them
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return "", errors.New(dir + " is not a directory")
	}
	return filepath.Abs(dir)
}
