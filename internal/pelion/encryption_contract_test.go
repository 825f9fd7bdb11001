package pelion_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/payloadcrypt"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// encryptedUpload is an upload of payload with service-side encryption.
func encryptedUpload(name string, payload []byte) pelion.ImageUpload {
	return pelion.ImageUpload{Name: name, Size: int64(len(payload)), SHA256: sha256Hex(payload), Encrypt: true,
		Open: pelion.ReaderAtSource(bytes.NewReader(payload), int64(len(payload)))}
}

// checkEncryptedImage fails unless img describes payload as uploaded and, in the encrypted fields,
// the encrypted payload its datafile URL serves.
func checkEncryptedImage(t *testing.T, img *pelion.FirmwareImage, payload []byte) {
	t.Helper()
	if !img.DatafileEncryption || img.DatafileChecksum != sha256Hex(payload) || img.DatafileSize != int64(len(payload)) {
		t.Fatalf("image %+v does not describe the uploaded plaintext", img)
	}
	resp, err := http.Get(img.Datafile)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, _ := io.ReadAll(resp.Body)
	if sha256Hex(served) != img.EncryptedDatafileChecksum || int64(len(served)) != img.EncryptedDatafileSize ||
		img.EncryptedDatafileSize != payloadcrypt.EncryptedSize(int64(len(payload))) {
		t.Errorf("datafile serves %d bytes %s; image says %d bytes %s", len(served), sha256Hex(served), img.EncryptedDatafileSize, img.EncryptedDatafileChecksum)
	}
}

// Encrypt reaches the service both ways an image is uploaded: the multipart form field and the upload
// job's JSON field.
func TestEncryptedImageUploads(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		opts []pelion.Option
	}{
		{"multipart", 300_000, nil},
		{"upload job", 7 << 20, []pelion.Option{pelion.WithChunkedUploadThreshold(6 << 20), pelion.WithChunkSize(pelion.MinChunkSize)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sim.Config{Devices: 1}, tc.opts...)
			payload := payloadOf(tc.size, 5)
			img, err := e.client.CreateFirmwareImage(ctx, encryptedUpload("enc", payload))
			if err != nil {
				t.Fatal(err)
			}
			checkEncryptedImage(t, img, payload)
			plain := e.image("plain", payload)
			if plain.DatafileEncryption || plain.EncryptedDatafileChecksum != "" || plain.EncryptedDatafileSize != 0 {
				t.Errorf("an image uploaded without Encrypt reports encryption: %+v", plain)
			}
		})
	}
}

// When a create's outcome is unknown, an image found by name is adopted only if it was encrypted
// exactly as asked: an unencrypted image never stands in for an encrypted upload, nor the reverse.
func TestAdoptedImagesMatchTheEncryptFlag(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	payload := payloadOf(5000, 9)
	for _, first := range []bool{false, true} {
		name := map[bool]string{false: "plain-first", true: "encrypted-first"}[first]
		up := encryptedUpload(name, payload)
		up.Encrypt = first
		existing, err := e.client.CreateFirmwareImage(ctx, up)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sim.SetFaults(sim.Fault{Op: pelion.OpCreateFirmwareImage, Kind: sim.FaultDropAfter, Count: 1}); err != nil {
			t.Fatal(err)
		}
		up.Encrypt = !first
		img, err := e.client.CreateFirmwareImage(ctx, up)
		if err != nil {
			t.Fatal(err)
		}
		if img.ID == existing.ID || img.DatafileEncryption != up.Encrypt {
			t.Errorf("%s: the upload with Encrypt=%t gave image %s (encrypted %t); the existing one is %s", name, up.Encrypt, img.ID, img.DatafileEncryption, existing.ID)
		}
	}
	// The image the dropped attempt created is adopted when it is the one asked for.
	if err := e.sim.SetFaults(sim.Fault{Op: pelion.OpCreateFirmwareImage, Kind: sim.FaultDropAfter, Count: 1}); err != nil {
		t.Fatal(err)
	}
	posts := len(e.counter.statuses(pelion.OpCreateFirmwareImage))
	img, err := e.client.CreateFirmwareImage(ctx, encryptedUpload("adopted", payload))
	if err != nil {
		t.Fatal(err)
	}
	checkEncryptedImage(t, img, payload)
	if n := len(e.counter.statuses(pelion.OpCreateFirmwareImage)) - posts; n != 1 {
		t.Errorf("%d image posts, want 1: the dropped create was posted again", n)
	}
}

// A service that did not encrypt (or did, unasked) fails the upload: a manifest built for the image
// would name the wrong payload format.
func TestImageEncryptedOtherwiseThanAskedIsAnError(t *testing.T) {
	payload := []byte("firmware")
	for _, tc := range []struct {
		ask    bool
		answer string
	}{
		{true, `"datafile_encryption":false`},
		{true, `"datafile_encryption":true`}, // but no encrypted checksum
		{false, `"datafile_encryption":true,"encrypted_datafile_checksum":"00","encrypted_datafile_size":16`},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"img","object":"firmware-image","datafile_size":8,"datafile_checksum":"`+sha256Hex(payload)+`",`+tc.answer+`}`)
		}))
		client, err := pelion.New(srv.URL, testAPIKey)
		if err != nil {
			t.Fatal(err)
		}
		up := encryptedUpload("fw", payload)
		up.Encrypt = tc.ask
		_, err = client.CreateFirmwareImage(ctx, up)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "encrypt") {
			t.Errorf("asked %t, service answered %s: %v", tc.ask, tc.answer, err)
		}
	}
}

// The multipart form carries datafile_encryption only when asked, so uploads without Encrypt are
// the requests they always were.
func TestEncryptionFormFieldIsSentOnlyWhenAsked(t *testing.T) {
	for _, encrypt := range []bool{false, true} {
		var fields map[string][]string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseMultipartForm(1 << 20); err == nil {
				fields = r.MultipartForm.Value
			}
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(pelion.ErrorBody{Object: pelion.ObjectError, Code: 400, Message: "stop here"})
		}))
		client, err := pelion.New(srv.URL, testAPIKey)
		if err != nil {
			t.Fatal(err)
		}
		up := encryptedUpload("fw", []byte("firmware"))
		up.Encrypt = encrypt
		_, _ = client.CreateFirmwareImage(ctx, up)
		srv.Close()
		got, sent := fields["datafile_encryption"]
		if sent != encrypt || (encrypt && (len(got) != 1 || got[0] != "true")) {
			t.Errorf("Encrypt=%t sent datafile_encryption %v", encrypt, got)
		}
	}
}
