// Package repo finds the repository a test or a development tool runs in.
package repo

import (
	"errors"
	"os"
	"path/filepath"
)

// Root walks up from the working directory (a package directory under go test) to the directory
// holding go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
