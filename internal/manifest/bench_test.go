package manifest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

// The build must stay within 10% of a bare signature: each benchmark interleaves one Build with one
// bare signature of the same digest on the same key, alternating which goes first, so both see the
// same machine load; it reports both times and their ratio (raw/build; the target is >= 0.9).
func BenchmarkBuildVsRawSign(b *testing.B) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("payload"))
	rawECDSA := func() { // what Build's ECDSA signing is: RFC 6979 for in-memory keys
		if _, err := ecKey.Sign(nil, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
	rawECDSARandom := func() {
		if _, _, err := ecdsa.Sign(rand.Reader, ecKey, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
	rawEd25519 := func() { ed25519.Sign(edKey, digest[:]) }
	cases := []struct {
		name   string
		format Format
		alg    string
		key    crypto.Signer
		raw    func()
	}{
		{"pelion-v3/ES256", FormatPelionV3, "", ecKey, rawECDSA},
		{"pelion-v3/ES256-vs-randomized-ecdsa.Sign", FormatPelionV3, "", ecKey, rawECDSARandom},
		{"suit/ES256", FormatSUIT, AlgorithmES256, ecKey, rawECDSA},
		{"suit/ESP256", FormatSUIT, AlgorithmESP256, ecKey, rawECDSA},
		{"suit/EdDSA", FormatSUIT, AlgorithmEdDSA, edKey, rawEd25519},
	}
	for _, c := range cases {
		spec := benchSpec(c.format, c.alg, digest[:])
		signer, err := NewSigner(c.key)
		if err != nil {
			b.Fatal(err)
		}
		builds := map[string]func() ([]byte, error){
			"Build":        func() ([]byte, error) { return Build(spec, c.key) },
			"Signer.Build": func() ([]byte, error) { return signer.Build(spec) },
		}
		for _, how := range []string{"Build", "Signer.Build"} {
			b.Run(c.name+"/"+how, func(b *testing.B) { interleave(b, builds[how], c.raw) })
		}
	}
}

// interleave times build and raw alternately and reports both and raw/build.
func interleave(b *testing.B, buildOnce func() ([]byte, error), raw func()) {
	var buildTime, rawTime time.Duration
	build := func() {
		if _, err := buildOnce(); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		first, second := build, raw
		firstTime, secondTime := &buildTime, &rawTime
		if i%2 == 1 {
			first, second = second, first
			firstTime, secondTime = secondTime, firstTime
		}
		start := time.Now()
		first()
		mid := time.Now()
		second()
		*firstTime += mid.Sub(start)
		*secondTime += time.Since(mid)
	}
	b.ReportMetric(float64(buildTime.Nanoseconds())/float64(b.N), "build-ns/op")
	b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(rawTime)/float64(buildTime), "raw/build")
}

// BenchmarkBuild measures Build alone, per format and algorithm.
func BenchmarkBuild(b *testing.B) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	digest := sha256.Sum256([]byte("payload"))
	for _, c := range []struct {
		name   string
		format Format
		alg    string
		key    crypto.Signer
	}{
		{"pelion-v3/ES256", FormatPelionV3, "", ecKey},
		{"suit/ES256", FormatSUIT, AlgorithmES256, ecKey},
		{"suit/ESP256", FormatSUIT, AlgorithmESP256, ecKey},
		{"suit/EdDSA", FormatSUIT, AlgorithmEdDSA, edKey},
	} {
		spec := benchSpec(c.format, c.alg, digest[:])
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(spec, c.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures what each simulated device pays per manifest.
func BenchmarkVerify(b *testing.B) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("payload"))
	for _, format := range []Format{FormatPelionV3, FormatSUIT} {
		data, err := Build(benchSpec(format, "", digest[:]), ecKey)
		if err != nil {
			b.Fatal(err)
		}
		trusted := []crypto.PublicKey{ecKey.Public()}
		b.Run(string(format), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(data, trusted); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchSpec(format Format, alg string, digest []byte) Spec {
	return Spec{
		Format:        format,
		Algorithm:     alg,
		VendorID:      mustVendor("example.com"),
		ClassID:       mustClass("example.com", "widget-rev-a"),
		Version:       "1.2.3",
		PayloadDigest: digest,
		PayloadSize:   1 << 20,
		PayloadURI:    "https://updates.example.com/v3/firmware-images/0172f6e3a4b6/widget-1.2.3.bin",
	}
}
