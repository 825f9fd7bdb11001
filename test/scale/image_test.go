package scale

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// imageSize is the image of BenchmarkImage1GiB: the operator's default --max-image-size.
const imageSize = 1 << 30

// BenchmarkImage1GiB streams a 1 GiB firmware image from an https URL through the operator (bin/manager) to
// the simulator's upload jobs, and reports the operator's peak RSS: the image is never held whole.
func BenchmarkImage1GiB(b *testing.B) {
	for range b.N {
		elapsed, rss := imageThroughOperator(b)
		b.ReportMetric(float64(rss)/(1<<20), "MiB-operator-peak-RSS")
		b.ReportMetric(elapsed.Seconds(), "s/image")
		b.ReportMetric(float64(imageSize)/(1<<20)/elapsed.Seconds(), "MiB/s")
		b.Logf("1 GiB image: Ready after %v (%.0f MiB/s), operator peak RSS %.1f MiB",
			elapsed.Round(time.Millisecond), float64(imageSize)/(1<<20)/elapsed.Seconds(), float64(rss)/(1<<20))
	}
}

func imageThroughOperator(b *testing.B) (time.Duration, int64) {
	b.Helper()
	b.StopTimer()
	url, digest := serveImage(b)
	st := startStack(b, 1, "--image-source-allow", "127.0.0.1/32", "--spool-dir", b.TempDir())
	env, operator := st.env, st.operator

	img := &v1.FirmwareImage{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "big"},
		Spec: v1.FirmwareImageSpec{Source: v1.FirmwareImageSource{URL: url}, SHA256: digest}}
	b.StartTimer()
	start := time.Now()
	mustCreate(b, env.Client, img)
	waitFor(b, 10*time.Minute, "the 1 GiB image is uploaded", func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(img), img)
		return meta.IsStatusConditionTrue(img.Status.Conditions, v1.ConditionReady)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if img.Status.Size != imageSize || img.Status.SHA256 != digest {
		b.Fatalf("the image is Ready with size %d and sha256 %s, want %d and %s", img.Status.Size, img.Status.SHA256, imageSize, digest)
	}
	return elapsed, peakRSS(b, operator.Process.Pid)
}

// serveImage serves imageSize seeded pseudo-random bytes over plain HTTP on loopback, with their
// Content-Length, generated as they are sent, and returns the URL and their SHA-256.
func serveImage(b *testing.B) (string, string) {
	b.Helper()
	sum := sha256.New()
	if _, err := io.Copy(sum, newImageReader()); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(imageSize))
		_, _ = io.Copy(w, newImageReader())
	}))
	srv.StartTLS() // on 127.0.0.1, with a certificate for it
	b.Cleanup(srv.Close)
	// The operator trusts the server's certificate as a system root: Go reads SSL_CERT_FILE on Linux.
	caFile := filepath.Join(b.TempDir(), "image-server.pem")
	write(b, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	b.Setenv("SSL_CERT_FILE", caFile)
	return srv.URL + "/firmware.bin", hex.EncodeToString(sum.Sum(nil))
}

// newImageReader yields the benchmark image: imageSize bytes from a fixed seed.
func newImageReader() io.Reader {
	return io.LimitReader(&seededBytes{rng: rand.NewChaCha8([32]byte{'f', 'w'})}, imageSize)
}

type seededBytes struct{ rng *rand.ChaCha8 }

func (s *seededBytes) Read(p []byte) (int, error) { return s.rng.Read(p) }
