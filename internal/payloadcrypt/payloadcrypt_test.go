package payloadcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/pion/dtls/v3/pkg/crypto/ccm"
)

// testKey is the key manifest-tool's tests encrypt payloads with.
var testKey = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func plaintext(n int, seed uint64) []byte {
	out := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

func mustEncrypt(t testing.TB, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	n, err := Encrypt(&out, bytes.NewReader(plain), testKey)
	if err != nil || n != int64(out.Len()) {
		t.Fatalf("encrypt: %d bytes reported, %d written, %v", n, out.Len(), err)
	}
	return out.Bytes()
}

func decrypt(enc []byte, size int64) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(enc), testKey, size)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, PageData - 1, PageData, PageData + 1, 2 * PageData, 100_000} {
		plain := plaintext(n, uint64(n))
		enc := mustEncrypt(t, plain)
		if int64(len(enc)) != EncryptedSize(int64(n)) {
			t.Errorf("%d bytes: encrypted to %d, EncryptedSize says %d", n, len(enc), EncryptedSize(int64(n)))
		}
		if got, err := PlainSize(int64(len(enc))); err != nil || got != int64(n) {
			t.Errorf("%d bytes: PlainSize(%d) = %d, %v", n, len(enc), got, err)
		}
		got, err := decrypt(enc, int64(len(enc)))
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: decrypted %d bytes, %v", n, len(got), err)
		}
		// One byte at a time on both sides: no page boundary depends on how the caller reads.
		r, err := NewReader(iotest.OneByteReader(bytes.NewReader(enc)), testKey, int64(len(enc)))
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(r, plain); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

func TestEncryptedSizes(t *testing.T) {
	for _, tc := range []struct{ plain, enc int64 }{
		{0, 0}, {1, 9}, {PageData, PageSize}, {PageData + 1, PageSize + 9}, {-5, 0},
	} {
		if got := EncryptedSize(tc.plain); got != tc.enc {
			t.Errorf("EncryptedSize(%d) = %d, want %d", tc.plain, got, tc.enc)
		}
	}
	for _, bad := range []int64{-1, 1, TagSize, PageSize + 1, PageSize + TagSize} {
		if _, err := PlainSize(bad); !errors.Is(err, ErrSize) {
			t.Errorf("PlainSize(%d): %v, want ErrSize", bad, err)
		}
		if _, err := NewReader(bytes.NewReader(nil), testKey, bad); !errors.Is(err, ErrSize) {
			t.Errorf("NewReader of size %d: %v, want ErrSize", bad, err)
		}
	}
}

// TestKnownPayload checks the page format against an encryption by an independent implementation
// (Python cryptography's AESCCM, tag_length=8, nonce (page+1).to_bytes(8, 'little'), tag moved first)
// of bytes (i*7+3)%256 for i in 0..1029 under manifest-tool's test key: two pages, the second short.
func TestKnownPayload(t *testing.T) {
	plain := make([]byte, 1030)
	for i := range plain {
		plain[i] = byte(i*7 + 3)
	}
	enc := mustEncrypt(t, plain)
	sum := sha256.Sum256(enc)
	if got := hex.EncodeToString(sum[:]); got != "69d0127a2cba769bf407ba5486c521f9b9318ce7e06b7fe83c18f35ec3c05426" {
		t.Errorf("encrypted payload sha256 %s", got)
	}
	if !bytes.Equal(enc[:TagSize], mustHex(t, "fa083369b9ed2705")) {
		t.Errorf("first tag %x", enc[:TagSize])
	}
	if !bytes.Equal(enc[PageSize:], mustHex(t, "aaf380b66143d6f0f8e8c23d58cbeb5b0a54995b5066")) {
		t.Errorf("last page %x", enc[PageSize:])
	}
}

// TestCCMKnownAnswers proves the CCM implementation with published vectors, at the nonce and tag
// sizes each vector uses: RFC 3610 packet vector #1 (13-byte nonce, 8-byte tag: the tag size of the
// page format) and NIST SP 800-38C example 2 (8-byte nonce: the nonce size of the page format).
func TestCCMKnownAnswers(t *testing.T) {
	seq := func(from, to byte) []byte {
		var out []byte
		for b := from; b < to; b++ {
			out = append(out, b)
		}
		return out
	}
	for _, v := range []struct {
		name                string
		key, nonce, ad, msg []byte
		tagSize             int
		want                string // ciphertext || tag
	}{
		{"RFC 3610 #1", seq(0xc0, 0xd0), mustHex(t, "00000003020100a0a1a2a3a4a5"), seq(0, 8), seq(8, 0x1f), 8,
			"588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0"},
		{"SP 800-38C example 2", seq(0x40, 0x50), seq(0x10, 0x18), seq(0, 0x10), seq(0x20, 0x30), 6,
			"d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd"},
	} {
		block, err := aes.NewCipher(v.key)
		if err != nil {
			t.Fatal(err)
		}
		aead, err := ccm.NewCCM(block, v.tagSize, len(v.nonce))
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(aead.Seal(nil, v.nonce, v.msg, v.ad)); got != v.want {
			t.Errorf("%s: sealed %s, want %s", v.name, got, v.want)
		}
		if got, err := aead.Open(nil, v.nonce, mustHex(t, v.want), v.ad); err != nil || !bytes.Equal(got, v.msg) {
			t.Errorf("%s: open: %x, %v", v.name, got, err)
		}
	}
}

func TestAnyFlippedBitFailsAuthentication(t *testing.T) {
	plain := plaintext(3*PageData+100, 7)
	enc := mustEncrypt(t, plain)
	for i := 0; i < len(enc)*8; i += 37 { // every page, tags and ciphertext, a spread of bit positions
		damaged := bytes.Clone(enc)
		damaged[i/8] ^= 1 << (i % 8)
		got, err := decrypt(damaged, int64(len(damaged)))
		var pe *PageError
		if !errors.Is(err, ErrAuth) || !errors.As(err, &pe) || pe.Page != uint64(i/8/PageSize) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
		// Pages before the damaged one are returned; nothing of the damaged page is.
		if want := int(pe.Page) * PageData; len(got) != want || !bytes.Equal(got, plain[:want]) {
			t.Fatalf("bit %d flipped: %d bytes returned, want the %d before the page", i, len(got), want)
		}
	}
}

func TestTruncatedAndReorderedPagesFail(t *testing.T) {
	enc := mustEncrypt(t, plaintext(3*PageData+100, 8))
	swapped := bytes.Clone(enc)
	copy(swapped[:PageSize], enc[PageSize:2*PageSize])
	copy(swapped[PageSize:2*PageSize], enc[:PageSize])
	for _, tc := range []struct {
		name string
		data []byte
		size int64
		key  []byte // nil: the key it was encrypted with
		want error
	}{
		{"cut inside a page", enc[:len(enc)-10], int64(len(enc)), nil, ErrTruncated},
		{"cut inside the last page, size to match", enc[:len(enc)-10], int64(len(enc) - 10), nil, ErrAuth},
		{"cut inside a middle page, size to match", enc[:PageSize+500], PageSize + 500, nil, ErrAuth},
		{"cut at a page boundary", enc[:2*PageSize], int64(len(enc)), nil, ErrTruncated},
		{"pages swapped", swapped, int64(len(swapped)), nil, ErrAuth},
		{"last page replaced by the first", append(bytes.Clone(enc[:3*PageSize]), enc[:PageSize]...), 4 * PageSize, nil, ErrAuth},
		{"another key", enc, int64(len(enc)), bytes.Repeat([]byte{0x42}, KeySize), ErrAuth},
	} {
		key := testKey
		if tc.key != nil {
			key = tc.key
		}
		r, err := NewReader(bytes.NewReader(tc.data), key, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestCutAtAPageBoundaryIsAPrefix documents the format's limit: a payload cut after a whole page,
// read with the cut size, decrypts to a prefix of the plaintext. The installed size and digest of
// the manifest are what catch it.
func TestCutAtAPageBoundaryIsAPrefix(t *testing.T) {
	plain := plaintext(3*PageData+100, 9)
	enc := mustEncrypt(t, plain)
	got, err := decrypt(enc[:2*PageSize], 2*PageSize)
	if err != nil || !bytes.Equal(got, plain[:2*PageData]) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
}

func TestReaderReadsNoMoreThanItsSize(t *testing.T) {
	enc := mustEncrypt(t, plaintext(2*PageData+5, 10))
	src := &countingReader{r: bytes.NewReader(append(bytes.Clone(enc), make([]byte, 5000)...))}
	r, err := NewReader(src, testKey, int64(len(enc)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	if src.n != int64(len(enc)) {
		t.Errorf("read %d bytes of the source, the payload is %d", src.n, len(enc))
	}
}

func TestSourceErrorsPassThrough(t *testing.T) {
	boom := errors.New("connection reset")
	enc := mustEncrypt(t, plaintext(2*PageData, 11))
	r, err := NewReader(io.MultiReader(bytes.NewReader(enc[:PageSize+3]), iotest.ErrReader(boom)), testKey, int64(len(enc)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, boom) {
		t.Errorf("got %v, want the source's error", err)
	}
}

func TestBadKeys(t *testing.T) {
	for _, key := range [][]byte{nil, make([]byte, 15), make([]byte, 32)} {
		if _, err := Encrypt(io.Discard, bytes.NewReader([]byte("x")), key); !errors.Is(err, ErrKeySize) {
			t.Errorf("Encrypt with a %d-byte key: %v", len(key), err)
		}
		if _, err := NewReader(bytes.NewReader(nil), key, 0); !errors.Is(err, ErrKeySize) {
			t.Errorf("NewReader with a %d-byte key: %v", len(key), err)
		}
		if _, err := NewEncryptingReaderAt(bytes.NewReader(nil), 0, key); !errors.Is(err, ErrKeySize) {
			t.Errorf("NewEncryptingReaderAt with a %d-byte key: %v", len(key), err)
		}
	}
}

func TestErrorsNeverShowTheKey(t *testing.T) {
	enc := mustEncrypt(t, plaintext(PageData+10, 12))
	enc[3] ^= 1
	_, err := decrypt(enc, int64(len(enc)))
	for _, form := range []string{string(testKey), hex.EncodeToString(testKey)} {
		if bytes.Contains([]byte(err.Error()), []byte(form)) {
			t.Fatalf("error %q shows the key", err)
		}
	}
}

func TestEncryptingReaderAtMatchesEncrypt(t *testing.T) {
	for _, n := range []int{0, 1, PageData, PageData + 1, 5*PageData + 333} {
		plain := plaintext(n, uint64(n)+100)
		enc := mustEncrypt(t, plain)
		ra, err := NewEncryptingReaderAt(bytes.NewReader(plain), int64(n), testKey)
		if err != nil {
			t.Fatal(err)
		}
		if ra.Size() != int64(len(enc)) {
			t.Fatalf("%d bytes: Size %d, encrypted %d", n, ra.Size(), len(enc))
		}
		if err := iotest.TestReader(io.NewSectionReader(ra, 0, ra.Size()), enc); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
		r := rand.New(rand.NewPCG(uint64(n), 2))
		for range 50 { // ranges that start and end anywhere, across pages
			off := r.Int64N(int64(len(enc)) + 1)
			buf := make([]byte, r.IntN(3*PageSize))
			got, err := ra.ReadAt(buf, off)
			want := enc[off:min(off+int64(len(buf)), int64(len(enc)))]
			if !bytes.Equal(buf[:got], want) || (got < len(buf)) != errors.Is(err, io.EOF) {
				t.Fatalf("%d bytes: ReadAt(%d, %d) = %d, %v", n, len(buf), off, got, err)
			}
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func BenchmarkEncrypt(b *testing.B) {
	plain := plaintext(1<<20, 1)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := Encrypt(io.Discard, bytes.NewReader(plain), testKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	enc := mustEncrypt(b, plaintext(1<<20, 1))
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := decrypt(enc, int64(len(enc))); err != nil {
			b.Fatal(err)
		}
	}
}
