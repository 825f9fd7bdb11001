package pelion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
)

const manifestsPath = "/v3/firmware-manifests"

// ManifestUpload describes a manifest to create.
type ManifestUpload struct {
	// Name identifies the manifest: a create whose outcome is unknown is settled by looking it up by name.
	Name        string
	Description string
	FileName    string // file name of the datafile part; defaults to Name + ".manifest"
	Data        []byte // the signed manifest, at most MaxManifestSize bytes
}

// ListFirmwareManifests returns one page of manifests.
func (c *Client) ListFirmwareManifests(ctx context.Context, opts ListOptions) (*Page[FirmwareManifest], error) {
	return listPage[FirmwareManifest](ctx, c, OpListManifests, manifestsPath+"/", opts)
}

// GetFirmwareManifest returns one manifest.
func (c *Client) GetFirmwareManifest(ctx context.Context, id string) (*FirmwareManifest, error) {
	return getObject[FirmwareManifest](ctx, c, OpGetManifest, manifestsPath+"/"+escapeID(id))
}

// FindFirmwareManifestByName returns the oldest manifest with this exact name, or an ErrNotFound error.
func (c *Client) FindFirmwareManifestByName(ctx context.Context, name string) (*FirmwareManifest, error) {
	return findByName(ctx, "firmware manifest", name, c.ListFirmwareManifests)
}

// DeleteFirmwareManifest deletes a manifest; deleting one that is already gone succeeds.
func (c *Client) DeleteFirmwareManifest(ctx context.Context, id string) error {
	return c.deleteIdempotent(ctx, OpDeleteManifest, manifestsPath+"/"+escapeID(id))
}

// CreateFirmwareManifest uploads a manifest; the service parses it and fills the returned object's
// device and payload fields.
func (c *Client) CreateFirmwareManifest(ctx context.Context, up ManifestUpload) (*FirmwareManifest, error) {
	if up.Name == "" || len(up.Data) == 0 {
		return nil, errors.New("pelion: manifest upload needs a name and data")
	}
	if len(up.Data) > MaxManifestSize {
		return nil, fmt.Errorf("pelion: manifest of %d bytes exceeds the service's %d-byte limit", len(up.Data), MaxManifestSize)
	}
	if up.FileName == "" {
		up.FileName = up.Name + ".manifest"
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	if err := writeManifestForm(mw, up); err != nil {
		return nil, err
	}
	var m FirmwareManifest
	err := c.do(ctx, &request{
		op: OpCreateManifest, method: http.MethodPost, path: manifestsPath + "/",
		contentType: mw.FormDataContentType(),
		body: func() (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader(form.Bytes())), int64(form.Len()), nil
		},
		observeFirst: true, out: &m,
		resolve: adoptByName(up.Name, c.FindFirmwareManifestByName, func(found *FirmwareManifest) bool {
			return found.DatafileSize == int64(len(up.Data))
		}, &m),
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func writeManifestForm(mw *multipart.Writer, up ManifestUpload) error {
	if err := mw.WriteField("name", up.Name); err != nil {
		return err
	}
	if up.Description != "" {
		if err := mw.WriteField("description", up.Description); err != nil {
			return err
		}
	}
	part, err := mw.CreateFormFile("datafile", up.FileName)
	if err != nil {
		return err
	}
	if _, err := part.Write(up.Data); err != nil {
		return err
	}
	return mw.Close()
}
