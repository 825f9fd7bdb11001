// Package payloadcrypt implements the page format of the Update Service's service-side payload
// encryption, the payload a device receives for the Pelion v3 payload format encrypted-raw.
//
// The format, as the reference gives it (manifest-tool's tests/conftest.py encrypt_file; the device
// client's FOTA_CLOUD_ENCRYPTION_BLOCK_SIZE 1024): AES-128-CCM over 1024-byte pages, each page the
// 8-byte CCM tag first and then up to 1016 bytes of ciphertext; the 8-byte nonce (CCM L=7) is the
// page counter in little-endian order, 1 for the first page and one more for each page after it.
//
// Where the reference is silent, this package decides:
//   - No associated data: the pages authenticate their own bytes and, through the nonce, their
//     position, nothing else.
//   - The last page is shorter, the tag and the ciphertext of the plaintext that is left; no page
//     is ever padded, and no page carries an empty ciphertext, so an empty plaintext is zero pages
//     and an encrypted size of 1..8 bytes past a page boundary is invalid.
//
// A consequence of the format, not of these choices: nothing marks the last page, so a payload cut
// at a page boundary decrypts to a prefix of the plaintext without an error. A device detects that
// with the installed size and digest of the manifest's payload metadata, as it must anyway.
//
// Nothing here ever formats key bytes into an error.
package payloadcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pion/dtls/v3/pkg/crypto/ccm"
)

// Sizes of the page format.
const (
	KeySize   = 16   // AES-128
	PageSize  = 1024 // bytes of an encrypted page, the tag included
	TagSize   = 8    // CCM tag, first in each page
	PageData  = PageSize - TagSize
	nonceSize = 8 // the little-endian page counter
)

var (
	// ErrAuth is a page whose tag does not verify: damaged, from another payload or key, or out of
	// order.
	ErrAuth = errors.New("payloadcrypt: page authentication failed")
	// ErrTruncated is a payload that ends before the size it was said to have.
	ErrTruncated = errors.New("payloadcrypt: payload truncated inside a page")
	// ErrSize is an encrypted size no plaintext encrypts to (negative, or a last page without
	// ciphertext).
	ErrSize = errors.New("payloadcrypt: not the size of an encrypted payload")
	// ErrKeySize is a key that is not 16 bytes.
	ErrKeySize = errors.New("payloadcrypt: the key must be 16 bytes")
)

// PageError says which page (counting from 0) a decryption failed on.
type PageError struct {
	Page uint64
	Err  error // ErrAuth or ErrTruncated
}

func (e *PageError) Error() string { return fmt.Sprintf("page %d: %v", e.Page, e.Err) }
func (e *PageError) Unwrap() error { return e.Err }

// EncryptedSize is the size of the encrypted form of plain bytes of plaintext (0 for plain <= 0).
func EncryptedSize(plain int64) int64 {
	if plain <= 0 {
		return 0
	}
	pages := (plain + PageData - 1) / PageData
	return plain + pages*TagSize
}

// PlainSize is the size of the plaintext an encrypted payload of size bytes holds, or ErrSize.
func PlainSize(size int64) (int64, error) {
	if size < 0 {
		return 0, ErrSize
	}
	plain := size / PageSize * PageData
	switch rest := size % PageSize; {
	case rest == 0:
		return plain, nil
	case rest <= TagSize:
		return 0, ErrSize
	default:
		return plain + rest - TagSize, nil
	}
}

// pageCipher seals and opens single pages.
type pageCipher struct {
	aead cipher.AEAD
}

func newPageCipher(key []byte) (pageCipher, error) {
	if len(key) != KeySize {
		return pageCipher{}, ErrKeySize
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return pageCipher{}, err
	}
	aead, err := ccm.NewCCM(block, TagSize, nonceSize)
	if err != nil {
		return pageCipher{}, err
	}
	return pageCipher{aead: aead}, nil
}

// nonce is the nonce of page index (counting from 0): the counter starts at 1.
func nonce(index uint64) []byte {
	return binary.LittleEndian.AppendUint64(make([]byte, 0, nonceSize), index+1)
}

// seal encrypts plain (at most PageData bytes) as page index into dst[:TagSize+len(plain)] and
// returns that slice. The AEAD appends the tag; the format wants it first.
func (c pageCipher) seal(dst, plain []byte, index uint64) []byte {
	sealed := c.aead.Seal(nil, nonce(index), plain, nil)
	page := dst[:len(sealed)]
	copy(page, sealed[len(plain):])
	copy(page[TagSize:], sealed[:len(plain)])
	return page
}

// open decrypts page index (TagSize < len(page) <= PageSize) into dst[:0] and returns the plaintext.
func (c pageCipher) open(dst, page []byte, index uint64) ([]byte, error) {
	sealed := make([]byte, 0, len(page))
	sealed = append(sealed, page[TagSize:]...)
	sealed = append(sealed, page[:TagSize]...)
	plain, err := c.aead.Open(dst[:0], nonce(index), sealed, nil)
	if err != nil {
		return nil, &PageError{Page: index, Err: ErrAuth}
	}
	return plain, nil
}

// Encrypt writes the encrypted form of src to dst, one page at a time, and returns the bytes written.
func Encrypt(dst io.Writer, src io.Reader, key []byte) (int64, error) {
	c, err := newPageCipher(key)
	if err != nil {
		return 0, err
	}
	plain := make([]byte, PageData)
	page := make([]byte, PageSize)
	var written int64
	for index := uint64(0); ; index++ {
		n, err := io.ReadFull(src, plain)
		if n > 0 {
			w, werr := dst.Write(c.seal(page, plain[:n], index))
			written += int64(w)
			if werr != nil {
				return written, werr
			}
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return written, nil
		case err != nil:
			return written, err
		}
	}
}

// NewReader returns a reader of the plaintext of an encrypted payload of size bytes read from src. It
// reads src one page at a time, never more than size bytes of it, and holds one page. A tag that does
// not verify is a *PageError wrapping ErrAuth, a src that ends early one wrapping ErrTruncated; errors
// of src are returned as they are. The plaintext of a page is returned only once its tag verified.
func NewReader(src io.Reader, key []byte, size int64) (io.Reader, error) {
	if _, err := PlainSize(size); err != nil {
		return nil, err
	}
	c, err := newPageCipher(key)
	if err != nil {
		return nil, err
	}
	return &reader{src: src, cipher: c, remaining: size}, nil
}

type reader struct {
	src       io.Reader
	cipher    pageCipher
	remaining int64 // bytes of src still to read
	index     uint64
	page      [PageSize]byte
	plainBuf  [PageData]byte
	plain     []byte // decrypted bytes not yet returned, in plainBuf
	err       error  // sticky: io.EOF at the end
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next reads and decrypts one page.
func (r *reader) next() error {
	if r.remaining == 0 {
		return io.EOF
	}
	page := r.page[:min(PageSize, r.remaining)]
	n, err := io.ReadFull(r.src, page)
	r.remaining -= int64(n)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &PageError{Page: r.index, Err: ErrTruncated}
	case err != nil:
		return err
	}
	plain, err := r.cipher.open(r.plainBuf[:], page, r.index)
	if err != nil {
		return err
	}
	r.plain = plain
	r.index++
	return nil
}

// EncryptingReaderAt is the encrypted form of a plaintext read through an io.ReaderAt, computed a page
// at a time on each read: the encrypted payload can be served, ranges included, without being stored.
// Its ReadAt is safe for concurrent use when the plaintext's is.
type EncryptingReaderAt struct {
	plain     io.ReaderAt
	plainSize int64
	cipher    pageCipher
}

// NewEncryptingReaderAt presents the encrypted form of the first plainSize bytes of plain.
func NewEncryptingReaderAt(plain io.ReaderAt, plainSize int64, key []byte) (*EncryptingReaderAt, error) {
	c, err := newPageCipher(key)
	if err != nil {
		return nil, err
	}
	return &EncryptingReaderAt{plain: plain, plainSize: max(plainSize, 0), cipher: c}, nil
}

// Size is the size of the encrypted payload.
func (e *EncryptingReaderAt) Size() int64 { return EncryptedSize(e.plainSize) }

// ReadAt implements io.ReaderAt over the encrypted payload.
func (e *EncryptingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("payloadcrypt: negative offset")
	}
	plain := make([]byte, PageData)
	page := make([]byte, PageSize)
	n := 0
	for n < len(p) && off < e.Size() {
		index := off / PageSize
		start := index * PageData
		m, err := e.plain.ReadAt(plain[:min(PageData, e.plainSize-start)], start)
		// A ReaderAt may answer the read that reaches its end with io.EOF.
		if err != nil && (!errors.Is(err, io.EOF) || start+int64(m) != e.plainSize) {
			return n, err
		}
		sealed := e.cipher.seal(page, plain[:m], uint64(index))
		c := copy(p[n:], sealed[off-index*PageSize:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
