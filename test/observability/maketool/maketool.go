// Package maketool finds what the Makefile pins and builds from the Go module proxy (promtool, helm,
// the monitoring CRDs) for tests: bin/NAME-VERSION, with VERSION as the Makefile names it, made by
// make when it is not there yet, so tests run exactly the pinned versions, on a fresh machine too.
package maketool

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
)

// Path returns root/bin/NAME-VERSION, VERSION being what the Makefile at root sets versionVar (such as
// PROMTOOL_VERSION) to, and runs make to build it first when it is missing.
func Path(root, name, versionVar string) (string, error) {
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return "", err
	}
	pattern := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(versionVar) + ` \?= (v[0-9]+\.[0-9]+\.[0-9]+)$`)
	m := pattern.FindSubmatch(makefile)
	if m == nil {
		return "", fmt.Errorf("the Makefile pins no %s vMAJOR.MINOR.PATCH", versionVar)
	}
	path := filepath.Join(root, "bin", name+"-"+string(m[1]))
	if _, err := os.Stat(path); err == nil { //nolint:gosec // bin/ of the repository; the version matched a semver above
		return path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	out, err := exec.Command("make", "--no-print-directory", "-C", root, path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("making %s: %w\n%s", path, err, out)
	}
	return path, nil
}
