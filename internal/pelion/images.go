package pelion

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime/multipart"
	"net/http"
)

const imagesPath = "/v3/firmware-images"

// encryptionField is the form field (and upload-job JSON field) that asks for service-side encryption.
const encryptionField = "datafile_encryption"

// ImageUpload describes a firmware image to create. The bytes are streamed from Open, never held whole:
// memory stays flat whatever the size.
type ImageUpload struct {
	// Name identifies the image: when a create's outcome is unknown (a dropped connection, a 5xx), the
	// client looks the image up by this name instead of posting it again, so it should be deterministic.
	Name        string
	Description string
	FileName    string // file name of the datafile part; defaults to Name
	Size        int64
	// Open returns the image bytes from the start; it is called once per attempt.
	Open func() (io.ReadCloser, error)
	// SHA256 is the expected hex digest, if known; an image found by name is adopted only if it matches.
	SHA256 string
	// Encrypt asks the service to encrypt the datafile (datafile_encryption).
	Encrypt bool
}

// ReaderAtSource adapts an io.ReaderAt (a file, a byte slice) to ImageUpload.Open.
func ReaderAtSource(r io.ReaderAt, size int64) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(r, 0, size)), nil }
}

// ListFirmwareImages returns one page of firmware images.
func (c *Client) ListFirmwareImages(ctx context.Context, opts ListOptions) (*Page[FirmwareImage], error) {
	return listPage[FirmwareImage](ctx, c, OpListFirmwareImages, imagesPath, opts)
}

// GetFirmwareImage returns one firmware image.
func (c *Client) GetFirmwareImage(ctx context.Context, id string) (*FirmwareImage, error) {
	return getObject[FirmwareImage](ctx, c, OpGetFirmwareImage, imagesPath+"/"+escapeID(id))
}

// FindFirmwareImageByName returns the oldest image with this exact name, or an ErrNotFound error.
func (c *Client) FindFirmwareImageByName(ctx context.Context, name string) (*FirmwareImage, error) {
	return findByName(ctx, "firmware image", name, c.ListFirmwareImages)
}

// DeleteFirmwareImage deletes an image; deleting one that is already gone succeeds.
func (c *Client) DeleteFirmwareImage(ctx context.Context, id string) error {
	return c.deleteIdempotent(ctx, OpDeleteFirmwareImage, imagesPath+"/"+escapeID(id))
}

// CreateFirmwareImage uploads an image: as one streamed multipart POST below the chunked-upload
// threshold, through an upload job with MD5-checked chunks at or above it. The service's checksum is
// compared with the digest of the bytes sent.
func (c *Client) CreateFirmwareImage(ctx context.Context, up ImageUpload) (*FirmwareImage, error) {
	if up.Name == "" || up.Open == nil || up.Size < 0 {
		return nil, errors.New("pelion: image upload needs a name, a size and a source")
	}
	if up.FileName == "" {
		up.FileName = up.Name
	}
	var (
		img    *FirmwareImage
		digest string
		err    error
	)
	if up.Size >= c.chunkedFrom {
		img, digest, err = c.createImageChunked(ctx, up)
	} else {
		img, digest, err = c.createImageMultipart(ctx, up)
	}
	if err != nil {
		return nil, err
	}
	if err := checkImage(img, up, digest); err != nil {
		return nil, err
	}
	return img, nil
}

// checkImage verifies that the service holds the bytes that were meant: size always, and the digest
// the caller expects or the one computed while streaming (empty when an earlier attempt was adopted).
// These describe the plaintext also when the service encrypted it, which it must have done exactly
// when asked: a manifest for the image names the encrypted-raw payload format or not accordingly.
func checkImage(img *FirmwareImage, up ImageUpload, streamed string) error {
	switch {
	case img.DatafileEncryption != up.Encrypt:
		return fmt.Errorf("pelion: image %s: service reports datafile_encryption %t, requested %t", img.ID, img.DatafileEncryption, up.Encrypt)
	case up.Encrypt && img.EncryptedDatafileChecksum == "":
		return fmt.Errorf("pelion: image %s: service encrypted the datafile but reports no encrypted checksum", img.ID)
	}
	if img.DatafileSize != up.Size {
		return fmt.Errorf("pelion: image %s: service stored %d bytes, sent %d", img.ID, img.DatafileSize, up.Size)
	}
	for _, want := range []string{up.SHA256, streamed} {
		if want != "" && img.DatafileChecksum != want {
			return fmt.Errorf("pelion: image %s: service checksum %s, expected %s", img.ID, img.DatafileChecksum, want)
		}
	}
	return nil
}

// matchesUpload reports whether an image found by name is the one up describes, encrypted by the
// service exactly when up asks for it.
func matchesUpload(img *FirmwareImage, up ImageUpload) bool {
	return img.DatafileSize == up.Size && (up.SHA256 == "" || img.DatafileChecksum == up.SHA256) &&
		img.DatafileEncryption == up.Encrypt
}

func (c *Client) createImageMultipart(ctx context.Context, up ImageUpload) (*FirmwareImage, string, error) {
	var (
		img     FirmwareImage
		current *hashedStream // the body of the latest attempt
	)
	boundary := multipart.NewWriter(io.Discard).Boundary()
	fields := map[string]string{"name": up.Name}
	if up.Description != "" {
		fields["description"] = up.Description
	}
	if up.Encrypt {
		fields[encryptionField] = "true"
	}
	frame, err := multipartLength(boundary, fields, up.FileName)
	if err != nil {
		return nil, "", err
	}
	r := &request{
		op: OpCreateFirmwareImage, method: http.MethodPost, path: imagesPath,
		contentType: "multipart/form-data; boundary=" + boundary,
		upload:      true, observeFirst: true, out: &img,
		body: func() (io.ReadCloser, int64, error) {
			src, err := up.Open()
			if err != nil {
				return nil, 0, &sourceError{err}
			}
			current = &hashedStream{hasher: sha256.New(), done: make(chan struct{})}
			return current.multipart(boundary, fields, up.FileName, src, up.Size), frame + up.Size, nil
		},
	}
	adopt := adoptByName(up.Name, c.FindFirmwareImageByName, func(found *FirmwareImage) bool { return matchesUpload(found, up) }, &img)
	r.resolve = func(ctx context.Context) (bool, error) {
		applied, err := adopt(ctx)
		if applied {
			current = nil // the image is an earlier attempt's; no digest of this one's bytes describes it
		}
		return applied, err
	}
	if err := c.do(ctx, r); err != nil {
		return nil, "", err
	}
	digest := ""
	if current != nil {
		digest = current.digest()
	}
	return &img, digest, nil
}

// hashedStream is one attempt's streamed request body and the SHA-256 of the image bytes it carried.
type hashedStream struct {
	hasher hash.Hash
	done   chan struct{} // closed when the writer has finished with hasher
}

// multipart returns a body that writes the form fields and then copies exactly size bytes of src into
// the datafile part, through a pipe: nothing is buffered beyond the pipe's hand-off. The transport
// closes the body when it is done with it, which also ends the writer.
func (s *hashedStream) multipart(boundary string, fields map[string]string, fileName string, src io.ReadCloser, size int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer close(s.done)
		defer src.Close()
		pw.CloseWithError(writeMultipart(pw, boundary, fields, fileName, io.TeeReader(sourceReader{src}, s.hasher), size))
	}()
	return pr
}

func (s *hashedStream) digest() string {
	<-s.done
	return hex.EncodeToString(s.hasher.Sum(nil))
}

func writeMultipart(w io.Writer, boundary string, fields map[string]string, fileName string, data io.Reader, size int64) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	for _, k := range []string{"name", "description", encryptionField} {
		if v, ok := fields[k]; ok {
			if err := mw.WriteField(k, v); err != nil {
				return err
			}
		}
	}
	part, err := mw.CreateFormFile("datafile", fileName)
	if err != nil {
		return err
	}
	n, err := io.Copy(part, io.LimitReader(data, size))
	if err != nil {
		return err
	}
	if n != size {
		return &sourceError{fmt.Errorf("image source gave %d bytes, expected %d", n, size)}
	}
	return mw.Close()
}

// sourceError is a failure of the caller's image source rather than of the service or the network.
// The call ends at once, unretried, with the source's error in its chain: the caller decides whether
// the source is worth reading again (a digest mismatch is not).
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading image: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// sourceReader marks the errors of an image source as sourceErrors.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &sourceError{err}
	}
	return n, err
}

// multipartLength is the length of the multipart framing around the datafile, so the request can carry
// a Content-Length although it is streamed.
func multipartLength(boundary string, fields map[string]string, fileName string) (int64, error) {
	var cw countingWriter
	if err := writeMultipart(&cw, boundary, fields, fileName, eofReader{}, 0); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
