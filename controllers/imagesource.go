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
	"math"
	"net/http"
	"net/url"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/egress"
)

// Defaults of the image source limits, for the operator's flags and for Options left zero.
const (
	// DefaultMaxImageSize is 1 GiB: far above device firmware, small enough to spool and to stream
	// through the operator.
	DefaultMaxImageSize int64 = 1 << 30
	// DefaultImageDownloadTimeout leaves a 1 GiB image about 600 KB/s.
	DefaultImageDownloadTimeout = 30 * time.Minute
)

// ImageFetcher fetches FirmwareImages from spec.source.url within the operator's limits. Whoever may
// edit a namespace chooses the URL, so the client holds every request to the image source policy
// (egress.NewClient), and size and time are bounded here.
type ImageFetcher struct {
	// Client fetches the URL; egress.NewClient's refuses what the policy does not allow.
	Client *http.Client
	// MaxSize bounds an image: its Content-Length up front, and what is read of it.
	MaxSize int64
	// Timeout bounds all reads of one image in a reconcile, the upload streamed from it included.
	Timeout time.Duration
	// SpoolDir holds images without a Content-Length while they are uploaded; a writable volume,
	// as the operator's root filesystem is read-only.
	SpoolDir string
}

// withDefaults fills in what was left zero, so a fetcher is never unbounded or without a policy.
func (f ImageFetcher) withDefaults() ImageFetcher {
	if f.Client == nil {
		f.Client = egress.NewClient(egress.Policy{}, nil)
	}
	if f.MaxSize <= 0 {
		f.MaxSize = DefaultMaxImageSize
	}
	if f.Timeout <= 0 {
		f.Timeout = DefaultImageDownloadTimeout
	}
	if f.SpoolDir == "" {
		f.SpoolDir = os.TempDir()
	}
	return f
}

// digestMismatchError is what an image source returns, in place of its last bytes, when what it read
// does not hash to the digest the spec expects. The upload carrying those bytes fails with it, so a
// wrong image never reaches the Update Service. It does not say what the digest was: for a URL the
// operator fetched, that would tell a namespace editor something about what the URL serves.
type digestMismatchError struct{ want string }

func (e *digestMismatchError) Error() string {
	return "the image read does not match spec.sha256 " + e.want
}

// digestMismatchMessage is the Stalled message of a URL whose image did not match, the same whether
// it was found now or is repeated from the condition.
func digestMismatchMessage(rawURL, want string) string {
	return egress.Redact(rawURL) + ": " + (&digestMismatchError{want: want}).Error()
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
		return nil, stalled(v1.ReasonDigestMismatch, "ConfigMap %s key %q: %v", ref.Name, ref.Key, &digestMismatchError{want: wantSHA256})
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

// source streams the image from an https (or allowed http) URL and checks it against wantSHA256 on
// the way through. With a Content-Length the bytes go straight from the source to the Update Service,
// never held whole; without one they are spooled to a file in SpoolDir first (the upload must state
// its size). Either way no more than MaxSize bytes are read.
func (f ImageFetcher) source(ctx context.Context, rawURL, wantSHA256 string) (*imageSource, error) {
	first, err := f.get(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if first.ContentLength > f.MaxSize {
		first.Body.Close() // unread: the transport drops the connection rather than drain it
		return nil, f.tooLarge(rawURL, first.ContentLength)
	}
	if first.ContentLength < 0 {
		defer first.Body.Close()
		return f.spool(first.Body, rawURL, wantSHA256)
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
				if resp, err = f.get(ctx, rawURL); err != nil {
					return nil, err
				}
				if resp.ContentLength != size {
					resp.Body.Close()
					return nil, fmt.Errorf("fetching the image from %s: size changed from %d to %d bytes", egress.Redact(rawURL), size, resp.ContentLength)
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

// get fetches the URL. A refusal of the policy stalls; other failures are transient. Messages name
// the URL without its query or user info, which may hold credentials.
func (f ImageFetcher) get(ctx context.Context, rawURL string) (*http.Response, error) {
	shown := egress.Redact(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, stalled(v1.ReasonSourceUnavailable, "spec.source.url %s is not a URL the operator can fetch", shown)
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		var refusal *egress.RefusedError
		if errors.As(err, &refusal) {
			return nil, stalled(v1.ReasonSourceRefused, "fetching the image from %s was refused: %v", shown, refusal)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL it names, which may carry credentials
		}
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("fetching the image from %s: %w", shown, err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("fetching the image from %s: %s", shown, resp.Status))
	}
	return resp, nil
}

// tooLarge stalls an image over MaxSize, declared by its Content-Length or (declared < 0) found
// while streaming: fetching it again cannot make it smaller.
func (f ImageFetcher) tooLarge(rawURL string, declared int64) error {
	if declared >= 0 {
		return stalled(v1.ReasonImageTooLarge, "the image at %s declares %d bytes, more than the operator's maximum image size of %d bytes (--max-image-size)",
			egress.Redact(rawURL), declared, f.MaxSize)
	}
	return stalled(v1.ReasonImageTooLarge, "the image at %s is larger than the operator's maximum image size of %d bytes (--max-image-size)",
		egress.Redact(rawURL), f.MaxSize)
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
	if hex.EncodeToString(d.hash.Sum(nil)) != d.want {
		return n, &digestMismatchError{want: d.want}
	}
	return n, io.EOF
}

func (d *digestReader) Close() error { return d.body.Close() }

// spool copies a response of unknown length, at most MaxSize bytes of it, to a file in SpoolDir,
// checking its digest, so it can be uploaded with a known size. A mismatch or an oversized image is
// found before anything is uploaded.
func (f ImageFetcher) spool(body io.Reader, rawURL, wantSHA256 string) (*imageSource, error) {
	file, err := os.CreateTemp(f.SpoolDir, "fleetwave-image-*")
	if err != nil {
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("spooling the image: %w", err))
	}
	// Unlinked at once: the open file stays readable, and a crash or restart of the container cannot
	// leave it behind to fill the spool volume.
	unlinked := os.Remove(file.Name()) == nil
	release := func() {
		file.Close()
		if !unlinked {
			os.Remove(file.Name())
		}
	}
	limit := f.MaxSize
	if limit < math.MaxInt64 {
		limit++ // one byte past the maximum tells an image of exactly MaxSize from a larger one
	}
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(file, h), io.LimitReader(body, limit))
	switch {
	case err != nil:
		release()
		return nil, transient(v1.ReasonSourceUnavailable, fmt.Errorf("fetching the image from %s: %w", egress.Redact(rawURL), err))
	case size > f.MaxSize:
		release()
		return nil, f.tooLarge(rawURL, -1)
	case hex.EncodeToString(h.Sum(nil)) != wantSHA256:
		release()
		return nil, stalled(v1.ReasonDigestMismatch, "%s", digestMismatchMessage(rawURL, wantSHA256))
	}
	return &imageSource{
		size:   size,
		sha256: wantSHA256,
		open: func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(file, 0, size)), nil
		},
		release: release,
	}, nil
}
