package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/payloadcrypt"
)

// This file is service-side payload encryption: an image uploaded with datafile_encryption gets a
// random key and its datafile URL serves the encrypted payload (internal/payloadcrypt); the service
// appends that key to an encrypted-raw manifest naming the datafile when it delivers the manifest;
// and a device decrypts the payload with the key before it installs the plaintext.

// encryptionField is the upload form field and upload-job JSON field that asks for encryption.
const encryptionField = "datafile_encryption"

// keyTrailer starts the EncryptionKey the service appends after a v3 SignedResource: context tag [1],
// primitive, 16 bytes.
var keyTrailer = []byte{0x81, payloadcrypt.KeySize}

// contentKey is an image's AES-128 key. Formatted itself, under any verb, it prints a placeholder, so a
// key passed to a log line or an error by mistake does not show. (fmt cannot call methods of
// unexported fields: a structure holding one must not be formatted whole.)
type contentKey [payloadcrypt.KeySize]byte

func (contentKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[redacted key]") }

// encryption is the service-side encryption of an image.
type encryption struct {
	key contentKey
	// served is what the datafile URL serves: the stored plaintext encrypted page by page as it is
	// read, so the image is stored once, and a delta's precursor (uploadedImage) reads the plaintext.
	served *payloadcrypt.EncryptingReaderAt
}

// encryptionFormValue reads the datafile_encryption form field. It takes what strconv.ParseBool does:
// manifest-tool posts a Python bool, which a form carries as "True" or "False".
func encryptionFormValue(part *multipart.Part) (bool, error) {
	v, err := formValue(part)
	if err != nil {
		return false, err
	}
	on, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fieldError(encryptionField, "%s must be true or false, not %q", encryptionField, v)
	}
	return on, nil
}

// encryptionJSONValue reads the datafile_encryption field of an upload-job body: a JSON boolean, or
// absent (null) to keep current.
func encryptionJSONValue(raw json.RawMessage, current bool) (bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return current, nil
	}
	var on bool
	if err := json.Unmarshal(raw, &on); err != nil {
		return false, fieldError(encryptionField, "%s must be true or false", encryptionField)
	}
	return on, nil
}

// describeDatafile fills the image's datafile checksum and size: of the bytes as uploaded, and, when
// encrypt is set, gives the image a fresh key and describes the encrypted payload its datafile URL
// serves, in the same pass over the bytes.
func (i *image) describeDatafile(encrypt bool) error {
	i.obj.DatafileSize = i.data.size
	if !encrypt {
		sum, err := i.data.sha256Hex()
		i.obj.DatafileChecksum = sum
		return err
	}
	var key contentKey
	if _, err := rand.Read(key[:]); err != nil {
		return err
	}
	plain, sealed := newDigester(), newDigester()
	src := io.TeeReader(io.NewSectionReader(i.data, 0, i.data.size), plain)
	if _, err := payloadcrypt.Encrypt(sealed, src, key[:]); err != nil {
		return err
	}
	served, err := payloadcrypt.NewEncryptingReaderAt(i.data, i.data.size, key[:])
	if err != nil {
		return err
	}
	p, s := plain.payload(), sealed.payload()
	i.enc = &encryption{key: key, served: served}
	i.obj.DatafileChecksum = hex.EncodeToString(p.digest[:])
	i.obj.DatafileEncryption = true
	i.obj.EncryptedDatafileChecksum = hex.EncodeToString(s.digest[:])
	i.obj.EncryptedDatafileSize = int64(s.size)
	return nil
}

// datafile is what the image's datafile URL serves, and its size.
func (i *image) datafile() (io.ReaderAt, int64) {
	if i.enc == nil {
		return i.data, i.obj.DatafileSize
	}
	return i.enc.served, i.enc.served.Size()
}

// trailerOf returns what follows the SignedResource of a v3 manifest.
func trailerOf(data []byte) []byte {
	in := cryptobyte.String(data)
	if !in.SkipASN1(asn1.SEQUENCE) {
		return nil
	}
	return in
}

// deliveredManifest is what devices receive of an uploaded manifest. The key is resolved here, when
// the manifest is uploaded, because the service parses a manifest then (the delivered_* fields) and
// the image a payload URI names cannot change afterwards (image ids are never reused), so every
// delivery is the same bytes. An encrypted-raw manifest whose URI names no encrypted image of this
// service is accepted, as the service cannot know every URI a device can fetch, and is delivered
// without a key: the device refuses it as malformed (the FOTA client's key parse fails). A key the
// uploader appended is refused, the service appends its own. Callers hold s.mu.
func (s *Server) deliveredManifest(data []byte, sum *manifest.Summary) ([]byte, error) {
	if sum.Format != manifest.FormatPelionV3 || sum.PayloadFormat != manifest.PayloadEncryptedRaw {
		return data, nil
	}
	if len(trailerOf(data)) > 0 {
		return nil, fieldError("datafile", "data after the SignedResource; the service appends the payload's encryption key itself")
	}
	id := sum.PayloadURI[strings.LastIndexByte(sum.PayloadURI, '/')+1:]
	img, ok := s.images.get(id)
	if !ok || img.enc == nil || img.obj.Datafile != sum.PayloadURI {
		return data, nil
	}
	out := make([]byte, 0, len(data)+len(keyTrailer)+payloadcrypt.KeySize)
	out = append(append(append(out, data...), keyTrailer...), img.enc.key[:]...)
	return out, nil
}

// decryptPlan is what an encrypted-raw manifest asks of a device: decrypt with the key the service
// appended, and install the plaintext the payload metadata names.
type decryptPlan struct {
	key  contentKey
	want payload
}

// planDecrypt reads the key after the SignedResource of a verified encrypted-raw manifest and the
// installed digest and size from its payload metadata. It returns the event of a device that refuses:
// without a key the FOTA client's manifest parse fails, a malformed manifest.
func planDecrypt(data []byte, sum *manifest.Summary) (*decryptPlan, string) {
	trailer := trailerOf(data)
	if len(trailer) != len(keyTrailer)+payloadcrypt.KeySize || !bytes.HasPrefix(trailer, keyTrailer) {
		return nil, manifest.FailureMalformed.EventType()
	}
	plan := &decryptPlan{want: payload{size: sum.InstalledSize}}
	copy(plan.key[:], trailer[len(keyTrailer):])
	copy(plan.want.digest[:], sum.InstalledDigest)
	return plan, ""
}

// decryptKey names one decryption: a payload URI, the key, and how many bytes the manifest lets the
// device download.
type decryptKey struct {
	uri   string
	key   contentKey
	limit uint64
}

// decryption is a payload downloaded and decrypted once for every device that asks with the same key.
type decryption struct {
	once   sync.Once
	result processed // without the device's expectation (want, mismatch)
}

// decrypt downloads the payload sum names and decrypts it with plan's key, once per campaign, URI and
// key, and returns it with plan's expectation of the plaintext.
func (c *downloadCache) decrypt(ctx context.Context, sum *manifest.Summary, plan *decryptPlan) processed {
	key := decryptKey{uri: sum.PayloadURI, key: plan.key, limit: sum.PayloadSize}
	c.mu.Lock()
	d := c.byKey[key]
	if d == nil {
		d = &decryption{}
		c.byKey[key] = d
	}
	c.mu.Unlock()
	d.once.Do(func() { d.result = c.fetchDecrypted(ctx, key) })
	got := d.result
	got.want, got.mismatch = plan.want, EventDecryptedIntegrity
	return got
}

// fetchDecrypted streams the download into a digest of what was received and through the decryption
// into a digest of the plaintext, so memory stays at one page. As for a patch, the download stops one
// byte past the manifest's payload size, and what follows a page that failed is still digested, so
// the integrity check covers all that was downloaded.
func (c *downloadCache) fetchDecrypted(ctx context.Context, key decryptKey) (got processed) {
	body, event := c.open(ctx, key.uri)
	if event != "" {
		got.fetchEvent = event
		return got
	}
	defer body.Close()
	src := &errorRecorder{r: body}
	received, image := newDigester(), newDigester()
	in := io.TeeReader(io.LimitReader(src, int64(key.limit)+1), received)
	plain, err := payloadcrypt.NewReader(in, key.key[:], int64(key.limit))
	if err == nil {
		_, err = io.Copy(image, plain)
	}
	if _, derr := io.Copy(io.Discard, in); derr != nil || src.err != nil {
		got.fetchEvent = EventNetworkError
		return got
	}
	got.download, got.image = received.payload(), image.payload()
	if err != nil {
		got.refused = EventDecryptFailed
	}
	return got
}
