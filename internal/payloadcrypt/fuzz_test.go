package payloadcrypt

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecrypt feeds arbitrary bytes and sizes to the decrypting reader: it must never panic, never
// read more of its source than the size it was given, return plaintext only for pages whose tag
// verified, and, when it succeeds, return exactly the plaintext size that size implies.
func FuzzDecrypt(f *testing.F) {
	for _, n := range []int{0, 1, PageData, PageData + 1, 2*PageData + 7} {
		enc := mustEncrypt(f, plaintext(n, uint64(n)))
		f.Add(enc, uint32(len(enc)))
		f.Add(enc, uint32(len(enc)+1))
		if len(enc) > 3 {
			f.Add(enc[:len(enc)-3], uint32(len(enc)))
		}
	}
	f.Add([]byte{}, uint32(PageSize+TagSize))
	f.Fuzz(func(t *testing.T, data []byte, size uint32) {
		src := &countingReader{r: bytes.NewReader(data)}
		r, err := NewReader(src, testKey, int64(size))
		if err != nil {
			if !errors.Is(err, ErrSize) {
				t.Fatalf("size %d refused with %v", size, err)
			}
			return
		}
		got, err := io.ReadAll(r)
		if src.n > int64(size) {
			t.Fatalf("read %d bytes of the source for a %d-byte payload", src.n, size)
		}
		var pe *PageError
		switch {
		case err == nil:
			if want, _ := PlainSize(int64(size)); int64(len(got)) != want {
				t.Fatalf("decrypted %d bytes of a %d-byte payload, want %d", len(got), size, want)
			}
		case errors.As(err, &pe):
			if int64(len(got)) != int64(pe.Page)*PageData {
				t.Fatalf("%d bytes returned before a failure on page %d", len(got), pe.Page)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}
