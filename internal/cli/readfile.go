package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// fileTooLargeError is the error of a read that passed its bound.
type fileTooLargeError struct {
	limit int64
	what  string
}

func (e *fileTooLargeError) Error() string {
	return fmt.Sprintf("larger than %s, the limit for %s", sizeText(e.limit), e.what)
}

// sizeText shows a byte count, in KiB or MiB when it is a whole number of them.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// ReadFileLimited reads a whole file of at most limit bytes; what names the kind of file for the
// error ("a key file"). A longer file fails with an error naming the path and the limit, having read
// no more than limit+1 bytes of it.
func ReadFileLimited(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: &fileTooLargeError{limit: limit, what: what}}
	}
	return data, nil
}
