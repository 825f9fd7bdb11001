package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/payloadcrypt"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Service-side encryption: images uploaded with datafile_encryption are served encrypted, the service
// appends the key to the encrypted-raw manifests that name them, and devices decrypt before they
// install.

func encryptedPayload(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(i*13 + i>>8)
	}
	return out
}

// uploadEncrypted uploads payload with datafile_encryption and returns the image.
func (e *churnEnv) uploadEncrypted(name string, payload []byte) *pelion.FirmwareImage {
	e.t.Helper()
	img, err := e.client.CreateFirmwareImage(context.Background(), pelion.ImageUpload{Name: name, Size: int64(len(payload)),
		Open: pelion.ReaderAtSource(bytes.NewReader(payload), int64(len(payload))), Encrypt: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return img
}

// imageKey returns the key the simulator gave an encrypted image.
func (e *churnEnv) imageKey(id string) contentKey {
	e.t.Helper()
	e.sim.mu.Lock()
	defer e.sim.mu.Unlock()
	img, ok := e.sim.images.get(id)
	if !ok || img.enc == nil {
		e.t.Fatalf("image %s is not an encrypted image", id)
	}
	return img.enc.key
}

// encryptedRawSpec is the manifest spec of an encrypted image, as manifest-tool fills it from the
// image: payload digest and size of what the datafile URL serves, installed ones of the plaintext.
func encryptedRawSpec(t *testing.T, img *pelion.FirmwareImage, plaintext []byte) manifest.Spec {
	t.Helper()
	digest, err := hex.DecodeString(img.EncryptedDatafileChecksum)
	if err != nil {
		t.Fatal(err)
	}
	installed := sha256.Sum256(plaintext)
	return manifest.Spec{Version: "2.0.0", PayloadFormat: manifest.PayloadEncryptedRaw, PayloadURI: img.Datafile,
		PayloadDigest: digest, PayloadSize: uint64(img.EncryptedDatafileSize),
		InstalledDigest: installed[:], InstalledSize: uint64(len(plaintext))}
}

// uploadManifest signs a v3 manifest of spec for the test devices and uploads it.
func (e *churnEnv) uploadManifest(name string, spec manifest.Spec) (*pelion.FirmwareManifest, []byte) {
	e.t.Helper()
	spec.Format, spec.VendorID, spec.ClassID = manifest.FormatPelionV3, e.vendor, e.class
	data, err := manifest.Build(spec, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.client.CreateFirmwareManifest(context.Background(), pelion.ManifestUpload{Name: name, Data: data})
	if err != nil {
		e.t.Fatal(err)
	}
	return m, data
}

// get GETs a URL outside the API and returns the status and body.
func (e *churnEnv) get(url string, header http.Header) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, body
}

// wantNoKey fails if body shows the key raw, in hex or in base64.
func wantNoKey(t *testing.T, what string, body []byte, key contentKey) {
	t.Helper()
	for _, form := range [][]byte{key[:], []byte(hex.EncodeToString(key[:])), []byte(base64.StdEncoding.EncodeToString(key[:]))} {
		if bytes.Contains(bytes.ToLower(body), bytes.ToLower(form)) {
			t.Errorf("%s shows the encryption key", what)
		}
	}
}

// An image uploaded with datafile_encryption is served encrypted under a fresh key, ranges included;
// datafile_checksum and datafile_size describe the upload, the encrypted_* fields what is served.
func TestEncryptedImageIsServedEncrypted(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 1})
	plain := encryptedPayload(5000)
	img := e.uploadEncrypted("enc", plain)
	sum := sha256.Sum256(plain)
	if !img.DatafileEncryption || img.DatafileChecksum != hex.EncodeToString(sum[:]) || img.DatafileSize != int64(len(plain)) {
		t.Fatalf("image %+v does not describe the uploaded plaintext", img)
	}
	status, served := e.get(img.Datafile, nil)
	servedSum := sha256.Sum256(served)
	if status != http.StatusOK || img.EncryptedDatafileChecksum != hex.EncodeToString(servedSum[:]) ||
		img.EncryptedDatafileSize != int64(len(served)) || int64(len(served)) != payloadcrypt.EncryptedSize(int64(len(plain))) {
		t.Fatalf("served %d: %d bytes, image says %d bytes %s", status, len(served), img.EncryptedDatafileSize, img.EncryptedDatafileChecksum)
	}
	key := e.imageKey(img.ID)
	r, err := payloadcrypt.NewReader(bytes.NewReader(served), key[:], int64(len(served)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("served payload decrypts to %d bytes, %v", len(got), err)
	}
	status, part := e.get(img.Datafile, http.Header{"Range": {"bytes=1000-2099"}})
	if status != http.StatusPartialContent || !bytes.Equal(part, served[1000:2100]) {
		t.Errorf("range request: %d, %d bytes", status, len(part))
	}
	again := e.uploadEncrypted("enc-again", plain)
	if again.EncryptedDatafileChecksum == img.EncryptedDatafileChecksum || e.imageKey(again.ID) == key {
		t.Error("two uploads of the same plaintext share a key")
	}
	for _, path := range []string{"/v3/firmware-images/" + img.ID, "/v3/firmware-images"} {
		_, body := e.do(http.MethodGet, path, "")
		wantNoKey(t, "GET "+path, body, key)
	}
}

// postImageForm posts a multipart image upload with the given text fields.
func (e *churnEnv) postImageForm(fields [][2]string, data []byte) (int, []byte) {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			e.t.Fatal(err)
		}
	}
	part, err := mw.CreateFormFile("datafile", "fw.bin")
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = part.Write(data)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, e.url+"/v3/firmware-images", &body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+churnKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// The form field takes what a Python client posts for a bool ("True"), in any position of the form;
// a value that is no boolean is a 400 naming the field, in the form as in the upload job's JSON.
func TestEncryptionFieldValues(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 1})
	for _, tc := range []struct {
		value string
		want  bool
	}{{"True", true}, {"false", false}} {
		status, body := e.postImageForm([][2]string{{"name", "form-" + tc.value}, {encryptionField, tc.value}}, []byte("firmware"))
		var img pelion.FirmwareImage
		if err := json.Unmarshal(body, &img); err != nil || status != http.StatusCreated || img.DatafileEncryption != tc.want ||
			(img.EncryptedDatafileChecksum != "") != tc.want {
			t.Errorf("datafile_encryption=%s: %d %s", tc.value, status, body)
		}
	}
	status, body := e.postImageForm([][2]string{{"name", "bad"}, {encryptionField, "maybe"}}, []byte("firmware"))
	errorBody(t, "form value maybe", status, body, http.StatusBadRequest, encryptionField)

	status, body = e.do(http.MethodPost, "/v3/firmware-images/upload-jobs", `{"name":"job","datafile_encryption":"yes"}`)
	errorBody(t, "JSON value \"yes\"", status, body, http.StatusBadRequest, encryptionField)

	var job pelion.UploadJob
	if status, body = e.do(http.MethodPost, "/v3/firmware-images/upload-jobs", `{"name":"job","datafile_encryption":true}`); status != http.StatusCreated {
		t.Fatalf("create job: %d %s", status, body)
	}
	_ = json.Unmarshal(body, &job)
	for _, chunk := range []string{"firmware in one chunk", ""} {
		if status, body = e.do(http.MethodPost, "/v3/firmware-images/upload-jobs/"+job.ID+"/chunks", chunk); status != http.StatusCreated {
			t.Fatalf("chunk: %d %s", status, body)
		}
	}
	e.getJSON("/v3/firmware-images/upload-jobs/"+job.ID, &job)
	var img pelion.FirmwareImage
	e.getJSON("/v3/firmware-images/"+job.FirmwareImageID, &img)
	if !img.DatafileEncryption || img.DatafileSize != int64(len("firmware in one chunk")) || img.EncryptedDatafileSize != img.DatafileSize+payloadcrypt.TagSize {
		t.Errorf("upload job image %+v", img)
	}
}

// Devices sent an encrypted-raw manifest get the key the service appends, decrypt the payload and end
// on the plaintext; neither the manifest file nor the manifest object shows the key.
func TestDevicesInstallTheDecryptedPayload(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 3})
	plain := encryptedPayload(3*payloadcrypt.PageData + 77)
	img := e.uploadEncrypted("enc", plain)
	m, uploaded := e.uploadManifest("enc-2.0.0", encryptedRawSpec(t, img, plain))
	id := e.campaign("enc", "state__eq=registered", m.ID)
	e.start(id)
	e.awaitPhase(id, pelion.PhaseStopped)
	for dev, got := range e.targets(id) {
		if got.EventType != EventSucceeded || got.Payload != PayloadFull {
			t.Errorf("device %s reported %q with payload %q", dev, got.EventType, got.Payload)
		}
		e.wantImage(dev, plain, "2.0.0")
	}
	key := e.imageKey(img.ID)
	e.sim.mu.Lock()
	stored, _ := e.sim.manifests.get(m.ID)
	delivered := bytes.Clone(stored.data)
	e.sim.mu.Unlock()
	if want := append(append(bytes.Clone(uploaded), 0x81, 0x10), key[:]...); !bytes.Equal(delivered, want) {
		t.Errorf("devices receive %d bytes, want the %d uploaded and the key", len(delivered), len(uploaded))
	}
	status, file := e.get(m.Datafile, nil)
	if status != http.StatusOK || !bytes.Equal(file, uploaded) {
		t.Errorf("manifest file: %d, %d bytes, want the %d uploaded", status, len(file), len(uploaded))
	}
	wantNoKey(t, "the manifest file", file, key)
	_, body := e.do(http.MethodGet, "/v3/firmware-manifests/"+m.ID, "")
	wantNoKey(t, "the manifest object", body, key)
}

// replaceDeliveredKey makes the key a stored manifest delivers another one: the service's key and the
// datafile out of step, the only way a payload that matches its manifest fails to decrypt.
func (e *churnEnv) replaceDeliveredKey(manifestID string) {
	e.sim.mu.Lock()
	defer e.sim.mu.Unlock()
	m, _ := e.sim.manifests.get(manifestID)
	m.data = bytes.Clone(m.data)
	m.data[len(m.data)-1] ^= 1
}

// A device refuses an encrypted payload that does not give the image its manifest names, and keeps its
// own: plaintext digest or size other than the manifest's, a key that does not decrypt the payload, a
// payload other than the named one.
func TestDevicesRefuseAnEncryptedPayloadThatDoesNotGiveTheirImage(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 2})
	ids := e.sim.DeviceIDs()
	before, _ := e.sim.Device(ids[0])
	plain := encryptedPayload(2*payloadcrypt.PageData + 5)
	img := e.uploadEncrypted("enc", plain)
	for _, tc := range []struct {
		name   string
		edit   func(*manifest.Spec)
		outKey bool // the delivered key is not the image's
		want   string
	}{
		{"plaintext digest", func(s *manifest.Spec) { s.InstalledDigest[0] ^= 1 }, false, EventDecryptedIntegrity},
		{"plaintext size", func(s *manifest.Spec) { s.InstalledSize-- }, false, EventDecryptedIntegrity},
		{"key", func(*manifest.Spec) {}, true, EventDecryptFailed},
		{"payload digest", func(s *manifest.Spec) { s.PayloadDigest[0] ^= 1 }, false, EventIntegrity},
	} {
		spec := encryptedRawSpec(t, img, plain)
		tc.edit(&spec)
		m, _ := e.uploadManifest("wrong-"+tc.name, spec)
		if tc.outKey {
			e.replaceDeliveredKey(m.ID)
		}
		for dev, event := range e.rollOut("wrong-"+tc.name, m.ID) {
			if event != tc.want {
				t.Errorf("wrong %s: device %s reported %q, want %q", tc.name, dev, event, tc.want)
			}
			if got, _ := e.sim.Device(dev); got.FirmwareDigest != before.FirmwareDigest || got.InstalledVersion != before.InstalledVersion {
				t.Errorf("wrong %s: device %s changed its image", tc.name, dev)
			}
		}
	}
}

// An encrypted-raw manifest naming an image the service did not encrypt is accepted (the service
// cannot tell every payload URI a device can fetch) and delivered without a key: devices refuse it as
// malformed, as the FOTA client does when the key is missing.
func TestEncryptedRawManifestOfAnUnencryptedImageFailsOnTheDevice(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 2})
	plain := encryptedPayload(4000)
	uri, sum := e.uploadImage("plain", plain)
	m, uploaded := e.uploadManifest("plain-as-encrypted", manifest.Spec{Version: "2.0.0", PayloadFormat: manifest.PayloadEncryptedRaw,
		PayloadURI: uri, PayloadDigest: sum[:], PayloadSize: uint64(len(plain)), InstalledDigest: sum[:], InstalledSize: uint64(len(plain))})
	e.sim.mu.Lock()
	stored, _ := e.sim.manifests.get(m.ID)
	delivered := len(stored.data)
	e.sim.mu.Unlock()
	if delivered != len(uploaded) {
		t.Errorf("a key was appended for an unencrypted image (%d bytes delivered, %d uploaded)", delivered, len(uploaded))
	}
	for dev, event := range e.rollOut("plain-as-encrypted", m.ID) {
		if event != manifest.FailureMalformed.EventType() {
			t.Errorf("device %s reported %q, want %s", dev, event, manifest.FailureMalformed.EventType())
		}
	}
}

// A manifest uploaded with a key already after its SignedResource is refused: the service appends the
// key of the payload's image itself.
func TestManifestWithAnUploadedKeyIsRefused(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 1})
	plain := encryptedPayload(100)
	img := e.uploadEncrypted("enc", plain)
	spec := encryptedRawSpec(t, img, plain)
	spec.Format, spec.VendorID, spec.ClassID = manifest.FormatPelionV3, e.vendor, e.class
	data, err := manifest.Build(spec, e.key)
	if err != nil {
		t.Fatal(err)
	}
	data = append(append(data, 0x81, 0x10), bytes.Repeat([]byte{7}, payloadcrypt.KeySize)...)
	_, err = e.client.CreateFirmwareManifest(context.Background(), pelion.ManifestUpload{Name: "keyed", Data: data})
	var apiErr *pelion.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Error(), "SignedResource") {
		t.Fatalf("got %v, want a 400 about the data after the SignedResource", err)
	}
}

func TestContentKeysFormatAsAPlaceholder(t *testing.T) {
	key := contentKey{0xde, 0xad, 0xbe, 0xef}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		if got := fmt.Sprintf(verb, key); got != "[redacted key]" {
			t.Errorf("%s formats a key as %q", verb, got)
		}
	}
	if got := fmt.Sprint(&key); strings.Contains(strings.ToLower(got), "dead") {
		t.Errorf("a key pointer formats as %q", got)
	}
}
