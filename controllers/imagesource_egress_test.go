package controllers_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/testserver"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/egress"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// These tests hold the operator to its image source policy and limits. Every server listens on
// loopback: 127.0.0.1, or 127.0.0.2 for a destination the policy must refuse (loopback as well, but
// outside the allow-listed 127.0.0.1/32), so no test sends traffic anywhere else, and a server that
// counts no connection proves the refusal came before any traffic.

// debugLine matches a log line of verbosity 1 or more, which the operator does not write by default.
var debugLine = regexp.MustCompile(`"level"=[1-9]`)

// imageHandler serves data, with a Content-Length or (withLength false) chunked.
func imageHandler(data []byte, withLength bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if withLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		}
		w.WriteHeader(http.StatusOK)
		if !withLength {
			w.(http.Flusher).Flush() // forces chunked encoding: no length known up front
		}
		_, _ = w.Write(data)
	}
}

func redirectHandler(target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) }
}

// imagePolicy is the operator's image client for an allow-list (as --image-source-allow reads it)
// and --image-source-allow-http, trusting the test servers' certificate (httptest's, the same for
// every TLS server).
func imagePolicy(t *testing.T, allow string, allowHTTP bool) *controllers.Options {
	t.Helper()
	list, err := egress.ParseAllowList(allow)
	if err != nil {
		t.Fatal(err)
	}
	cert := httptest.NewUnstartedServer(nil)
	cert.StartTLS()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Certificate())
	cert.Close()
	tlsConfig := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &controllers.Options{ImageHTTPClient: egress.NewClient(egress.Policy{Allow: list, AllowHTTP: allowHTTP}, tlsConfig)}
}

// waitStalledQuietly waits until img is Stalled for reason with a Warning event, its message saying
// why, and then checks the operator leaves it there: no further reconciles (no hot loop) and nothing
// uploaded.
func waitStalledQuietly(t *testing.T, img *v1.FirmwareImage, reason, why string) {
	t.Helper()
	waitCondition(t, img, v1.ConditionStalled, metav1.ConditionTrue, reason)
	if c := meta.FindStatusCondition(img.Status.Conditions, v1.ConditionStalled); !strings.Contains(c.Message, why) {
		t.Errorf("Stalled says %q, want it to say %q", c.Message, why)
	}
	waitEvent(t, img, "FirmwareImage", corev1.EventTypeWarning, reason)
	if got := kstatusOf(t, img); got != status.FailedStatus {
		t.Errorf("kstatus %s, want Failed", got)
	}
	before := reconciles(t, "firmwareimage")
	time.Sleep(2 * time.Second)
	if n := reconciles(t, "firmwareimage") - before; n > 0 {
		t.Errorf("%v more reconciles of a stalled image in 2s, want none", n)
	}
	if n := service.creates(pelion.ObjectFirmwareImage, controllers.RemoteName(img, "")); n != 0 {
		t.Errorf("a refused image reached the Update Service")
	}
}

func TestImageSourceOnLoopbackIsRefusedUnlessAllowListed(t *testing.T) {
	data := firmware(16<<10, 20)
	for _, tc := range []struct {
		useTLS bool
		why    string // the rule that refuses it
	}{
		{true, "127.0.0.1 is a loopback address"},
		{false, "plain http to 127.0.0.1 is refused"},
	} {
		useTLS := tc.useTLS
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			ns := newNamespace(t)
			src := testserver.Start(t, "127.0.0.1:0", useTLS, imageHandler(data, true))
			img := imageFromURL(ns, "fw", src.URL+"/fw.bin?token=s3cr3t", sha256Hex(data))
			create(t, img)
			op := startOperator(t, ns, operatorOptions{images: imagePolicy(t, "", false)})

			waitStalledQuietly(t, img, v1.ReasonSourceRefused, tc.why)
			if n := src.Conns(); n != 0 {
				t.Errorf("the refused loopback server accepted %d connections", n)
			}
			c := meta.FindStatusCondition(img.Status.Conditions, v1.ConditionStalled)
			if strings.Contains(c.Message, "s3cr3t") {
				t.Errorf("the URL's query reached the condition: %s", c.Message)
			}
			// The operator logs at info level (V(0)); client-go's request dumps at V(8) show the object.
			for _, line := range strings.Split(op.logs.String(), "\n") {
				if strings.Contains(line, "s3cr3t") && !debugLine.MatchString(line) {
					t.Errorf("the URL's query reached the logs: %s", line)
				}
			}
		})
	}
}

func TestImageSourceRedirectToRefusedAddressIsRefused(t *testing.T) {
	data := firmware(16<<10, 21)
	target := testserver.Start(t, "127.0.0.2:0", true, imageHandler(data, true))
	for _, useTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("from tls=%v", useTLS), func(t *testing.T) {
			ns := newNamespace(t)
			first := testserver.Start(t, "127.0.0.1:0", useTLS, redirectHandler(target.URL+"/fw.bin"))
			img := imageFromURL(ns, "fw", first.URL+"/fw.bin", sha256Hex(data))
			create(t, img)
			startOperator(t, ns, operatorOptions{images: imagePolicy(t, "127.0.0.1/32", true)})

			waitStalledQuietly(t, img, v1.ReasonSourceRefused, "127.0.0.2 is a loopback address")
			if first.Conns() == 0 {
				t.Errorf("the allowed server was never asked: the refusal is not the redirect's")
			}
		})
	}
	if n := target.Conns(); n != 0 {
		t.Errorf("the refused redirect target accepted %d connections", n)
	}
}

func TestImageSourceRedirectFromHTTPSToHTTPIsRefused(t *testing.T) {
	data := firmware(16<<10, 22)
	ns := newNamespace(t)
	plain := testserver.Start(t, "127.0.0.1:0", false, imageHandler(data, true))
	secure := testserver.Start(t, "127.0.0.1:0", true, redirectHandler(plain.URL+"/fw.bin"))
	img := imageFromURL(ns, "fw", secure.URL+"/fw.bin", sha256Hex(data))
	create(t, img)
	// Plain http to 127.0.0.1 is allowed here: only the downgrade refuses the redirect.
	startOperator(t, ns, operatorOptions{images: imagePolicy(t, "127.0.0.1/32", true)})

	waitStalledQuietly(t, img, v1.ReasonSourceRefused, "it would drop TLS")
	if n := plain.Conns(); n != 0 {
		t.Errorf("the http redirect target accepted %d connections", n)
	}
}

func TestImageSourceOverTheMaximumSizeIsRefused(t *testing.T) {
	const maxSize = 64 << 10
	for _, tc := range []struct {
		name       string
		size       int
		withLength bool
		why        string // "" when the image is uploaded
	}{
		{"declared", maxSize + 1, true, fmt.Sprintf("declares %d bytes", maxSize+1)},
		{"streamed", maxSize + 1, false, "is larger than"},
		{"streamed at the maximum", maxSize, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			data := firmware(tc.size, 23)
			src := testserver.Start(t, "127.0.0.1:0", false, imageHandler(data, tc.withLength))
			img := imageFromURL(ns, "fw", src.URL+"/fw.bin", sha256Hex(data))
			create(t, img)
			images := testImageSources(t)
			images.MaxImageSize, images.ImageSpoolDir = maxSize, t.TempDir()
			startOperator(t, ns, operatorOptions{images: images})

			if tc.why == "" {
				waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
				checkRemoteImage(t, img, data)
			} else {
				waitStalledQuietly(t, img, v1.ReasonImageTooLarge, tc.why)
			}
			if left, _ := os.ReadDir(images.ImageSpoolDir); len(left) != 0 {
				t.Errorf("the spool directory holds %d files", len(left))
			}
		})
	}
}

func TestImageSourceOnAllowListedLoopbackIsUploaded(t *testing.T) {
	for _, withLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", withLength), func(t *testing.T) {
			ns := newNamespace(t)
			data := firmware(200<<10, 24)
			src := testserver.Start(t, "127.0.0.1:0", true, imageHandler(data, withLength))
			img := imageFromURL(ns, "fw", src.URL+"/fw.bin", sha256Hex(data))
			create(t, img)
			images := imagePolicy(t, "127.0.0.1/32", false) // https only
			images.ImageSpoolDir = t.TempDir()
			startOperator(t, ns, operatorOptions{images: images})

			waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
			checkRemoteImage(t, img, data)
			if left, _ := os.ReadDir(images.ImageSpoolDir); len(left) != 0 {
				t.Errorf("the spool directory holds %d files", len(left))
			}
		})
	}
}

func TestImageSourceDigestMismatchDoesNotRevealTheDigest(t *testing.T) {
	for _, withLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", withLength), func(t *testing.T) {
			ns := newNamespace(t)
			data := firmware(32<<10, 25)
			src := testserver.Start(t, "127.0.0.1:0", false, imageHandler(data, withLength))
			img := imageFromURL(ns, "fw", src.URL+"/fw.bin", sha256Hex([]byte("something else")))
			create(t, img)
			op := startOperator(t, ns, operatorOptions{})

			waitCondition(t, img, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonDigestMismatch)
			waitEvent(t, img, "FirmwareImage", corev1.EventTypeWarning, v1.ReasonDigestMismatch)
			read := sha256Hex(data)
			for _, c := range img.Status.Conditions {
				if strings.Contains(c.Message, read) {
					t.Errorf("condition %s reveals the digest of what was read: %s", c.Type, c.Message)
				}
			}
			for _, e := range listEvents(t, ns).Items {
				if strings.Contains(e.Note, read) {
					t.Errorf("event %s reveals the digest of what was read: %s", e.Reason, e.Note)
				}
			}
			if strings.Contains(op.logs.String(), read) {
				t.Errorf("the logs reveal the digest of what was read")
			}
		})
	}
}

func TestImageSourceDownloadDeadlineIsRetried(t *testing.T) {
	ns := newNamespace(t)
	data := firmware(64<<10, 26)
	stop := make(chan struct{})
	src := testserver.Start(t, "127.0.0.1:0", false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data[:1024])
		w.(http.Flusher).Flush()
		select { // and then nothing, until the operator gives up
		case <-r.Context().Done():
		case <-stop:
		}
	})
	t.Cleanup(func() { close(stop) }) // before the server's Close, which waits for the handler
	img := imageFromURL(ns, "fw", src.URL+"/fw.bin", sha256Hex(data))
	create(t, img)
	images := testImageSources(t)
	images.ImageDownloadTimeout = time.Second
	startOperator(t, ns, operatorOptions{images: images})

	eventually(t, "a retried download deadline", func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(img), img); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(img.Status.Conditions, v1.ConditionReconciling)
		if c == nil {
			return false, "no Reconciling condition"
		}
		return c.Status == metav1.ConditionTrue && c.Reason == v1.ReasonSourceUnavailable && strings.Contains(c.Message, "did not finish within 1s"),
			c.Reason + ": " + c.Message
	})
	if meta.IsStatusConditionTrue(img.Status.Conditions, v1.ConditionStalled) {
		t.Errorf("a slow source stalled the image; it should be retried")
	}
}
