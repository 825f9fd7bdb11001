package cli

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFileLimitedReadsUpToTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	data := bytes.Repeat([]byte{'k'}, 2048)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFileLimited(path, 2048, "a key file")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading a file of exactly the limit: %d bytes, %v", len(got), err)
	}
	_, err = ReadFileLimited(path, 2047, "a key file")
	var tooLarge *fileTooLargeError
	var pathErr *fs.PathError
	if !errors.As(err, &tooLarge) || !errors.As(err, &pathErr) || pathErr.Path != path {
		t.Fatalf("reading a file one byte past the limit: %v", err)
	}
	if want := "read " + path + ": larger than 2047 bytes, the limit for a key file"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestSizeText(t *testing.T) {
	for n, want := range map[int64]string{1 << 20: "1 MiB", 64 << 10: "64 KiB", 1536: "1536 bytes", 3 << 20: "3 MiB", 2047: "2047 bytes"} {
		if got := sizeText(n); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", n, got, want)
		}
	}
}
