package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// digestMismatchError is what an image source returns, in place of its last bytes, when what it read
// does not hash to the digest the spec expects. The upload carrying those bytes fails with it, so a
// wrong image never reaches the Update Service.
type digestMismatchError struct{ got, want string }

func (e *digestMismatchError) Error() string {
	return fmt.Sprintf("the image has sha256 %s, spec.sha256 is %s", e.got, e.want)
}

// imageSource is a firmware binary ready to be streamed to the Update Service.
type imageSource struct {
	size int64
	// sha256 is the digest the bytes must have: spec.sha256, or for a ConfigMap without one, the
	// digest of what the ConfigMap holds.
	sha256 string
	// open returns the bytes from the start, once per upload attempt; reading the last byte of a wrong
	// image yields a *digestMismatchError.
	open func() (io.ReadCloser, error)
	// release frees what the source holds (a spooled file); safe to call more than once.
	release func()
}

// configMapSource reads the image from a ConfigMap key (binaryData, or data for text). The whole
// object is read once, uncached: ConfigMaps can be large and the controller watches only their
// metadata.
func configMapSource(ctx context.Context, reader client.Reader, namespace string, ref *v1.ConfigMapKeyReference, wantSHA256 string) (*imageSource, error) {
	var cm corev1.ConfigMap
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	if err := reader.Get(ctx, key, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, waiting(v1.ReasonSourceNotFound, "ConfigMap %s does not exist", ref.Name)
		}
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("reading ConfigMap %s: %w", ref.Name, err))
	}
	data, ok := cm.BinaryData[ref.Key]
	if !ok {
		text, found := cm.Data[ref.Key]
		if !found {
			return nil, waiting(v1.ReasonSourceNotFound, "ConfigMap %s has no key %q", ref.Name, ref.Key)
		}
		data = []byte(text)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if wantSHA256 != "" && digest != wantSHA256 {
		return nil, stalled(v1.ReasonDigestMismatch, "ConfigMap %s key %q has sha256 %s, spec.sha256 is %s", ref.Name, ref.Key, digest, wantSHA256)
	}
	return &imageSource{
		size:   int64(len(data)),
		sha256: digest,
		open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		},
		release: func() {},
	}, nil
}

// urlSource streams the image from an http(s) URL and checks it against wantSHA256 on the way
// through. With a Content-Length the bytes go straight from the source to the Update Service, never
// held whole; without one they are spooled to a temporary file first (the upload must state its size).
func urlSource(ctx context.Context, hc *http.Client, url, wantSHA256 string) (*imageSource, error) {
	first, err := get(ctx, hc, url)
	if err != nil {
		return nil, err
	}
	if first.ContentLength < 0 {
		defer first.Body.Close()
		return spool(first.Body, url, wantSHA256)
	}
	size := first.ContentLength
	pending := first // the first attempt streams the response already open
	return &imageSource{
		size:   size,
		sha256: wantSHA256,
		open: func() (io.ReadCloser, error) {
			resp := pending
			pending = nil
			if resp == nil {
				if resp, err = get(ctx, hc, url); err != nil {
					return nil, err
				}
				if resp.ContentLength != size {
					resp.Body.Close()
					return nil, fmt.Errorf("GET %s: size changed from %d to %d bytes", url, size, resp.ContentLength)
				}
			}
			return &digestReader{body: resp.Body, hash: sha256.New(), want: wantSHA256, remaining: size}, nil
		},
		release: func() {
			if pending != nil {
				pending.Body.Close()
				pending = nil
			}
		},
	}, nil
}

func get(ctx context.Context, hc *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, stalled(v1.ReasonSourceUnavailable, "spec.source.url: %v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("fetching the image: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("fetching the image: GET %s: %s", url, resp.Status))
	}
	return resp, nil
}

// digestReader passes the image through and, on the read that completes it, compares its digest with
// the expected one: a mismatch replaces the end of the stream with a *digestMismatchError.
type digestReader struct {
	body      io.ReadCloser
	hash      hash.Hash
	want      string
	remaining int64
}

func (d *digestReader) Read(p []byte) (int, error) {
	if int64(len(p)) > d.remaining {
		p = p[:d.remaining]
	}
	n, err := d.body.Read(p)
	d.hash.Write(p[:n])
	d.remaining -= int64(n)
	if d.remaining > 0 {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	if got := hex.EncodeToString(d.hash.Sum(nil)); got != d.want {
		return n, &digestMismatchError{got: got, want: d.want}
	}
	return n, io.EOF
}

func (d *digestReader) Close() error { return d.body.Close() }

// spool copies a response of unknown length to a temporary file, checking its digest, so it can be
// uploaded with a known size. A mismatch is found before anything is uploaded.
func spool(body io.Reader, url, wantSHA256 string) (*imageSource, error) {
	f, err := os.CreateTemp("", "fleetwave-image-*")
	if err != nil {
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("spooling the image: %w", err))
	}
	remove := func() { f.Close(); os.Remove(f.Name()) }
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, h), body)
	if err != nil {
		remove()
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("fetching the image from %s: %w", url, err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 {
		remove()
		return nil, stalled(v1.ReasonDigestMismatch, "%s: %v", url, &digestMismatchError{got: got, want: wantSHA256})
	}
	return &imageSource{
		size:   size,
		sha256: wantSHA256,
		open: func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(f, 0, size)), nil
		},
		release: remove,
	}, nil
}
