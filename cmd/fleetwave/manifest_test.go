package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/testvectors"
)

// signingFiles is a key pair on disk as fleetwave init (EC) or a test (Ed25519) writes it.
type signingFiles struct {
	key, pub, cert string
	public         crypto.PublicKey
}

func ecSigningFiles(t *testing.T) signingFiles {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, "init", "--domain", "example.com", "--model", "widget-rev-a", "--out", dir)
	key, err := manifest.ParsePrivateKey(readFile(t, dir, initKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return signingFiles{
		key:    filepath.Join(dir, initKeyFile),
		pub:    writePublicKey(t, dir, key.Public()),
		cert:   filepath.Join(dir, initCertFile),
		public: key.Public(),
	}
}

func ed25519SigningFiles(t *testing.T) signingFiles {
	t.Helper()
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyPath := writeTemp(t, dir, "ed25519.key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	return signingFiles{key: keyPath, pub: writePublicKey(t, dir, pub), public: pub}
}

func writePublicKey(t *testing.T, dir string, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, dir, "pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func inspectJSON(t *testing.T, path string) inspectReport {
	t.Helper()
	var r inspectReport
	if err := json.Unmarshal([]byte(mustRun(t, "manifest", "inspect", "-o", "json", path)), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// create → verify → inspect, for both formats and every algorithm.
func TestManifestRoundTrip(t *testing.T) {
	ec := ecSigningFiles(t)
	ed := ed25519SigningFiles(t)
	dir := t.TempDir()
	payload := make([]byte, 70000)
	rand.Read(payload)
	payloadPath := writeTemp(t, dir, "fw.bin", payload)
	payloadDigest := sha256.Sum256(payload)
	vendor, _ := manifest.VendorIDFromDomain("example.com")
	class, _ := manifest.ClassIDFromModel(vendor, "widget-rev-a")
	version, _ := manifest.EncodeVersion("2.5.1")

	tests := []struct {
		format, algorithm string
		keys              signingFiles
		verifyWith        [][]string
	}{
		{"pelion-v3", "ES256", ec, [][]string{{"--key", ec.pub}, {"--cert", ec.cert}, {"--key", ec.key}}},
		{"suit", "ES256", ec, [][]string{{"--key", ec.pub}, {"--cert", ec.cert}}},
		{"suit", "ESP256", ec, [][]string{{"--key", ec.pub}, {"--cert", ec.cert}}},
		{"suit", "EdDSA", ed, [][]string{{"--key", ed.pub}, {"--key", ed.key}}},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.algorithm, func(t *testing.T) {
			out := filepath.Join(dir, tt.format+"-"+tt.algorithm+".manifest")
			args := []string{"manifest", "create", "--format", tt.format, "--key", tt.keys.key, "--payload", payloadPath,
				"--url", "https://updates.example.com/fw.bin", "--version", "2.5.1", "--domain", "example.com",
				"--model", "widget-rev-a", "-o", out}
			if tt.format == "suit" {
				args = append(args, "--algorithm", tt.algorithm)
			}
			mustRun(t, args...)
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > manifest.MaxManifestSize {
				t.Fatalf("%d-byte manifest", len(data))
			}
			for _, with := range tt.verifyWith {
				line := mustRun(t, append(append([]string{"manifest", "verify"}, with...), out)...)
				if strings.Count(line, "\n") != 1 || !strings.Contains(line, "signature OK") || !strings.Contains(line, tt.algorithm) {
					t.Errorf("verify %v printed %q", with, line)
				}
			}
			r := inspectJSON(t, out)
			wantKeyID := ""
			if tt.format == "suit" {
				kid, _ := manifest.KeyID(tt.keys.public)
				wantKeyID = hex.EncodeToString(kid)
			}
			if r.Version != version || r.VendorID != vendor || r.ClassID != class || r.Component != "MAIN" ||
				r.PayloadDigest != hex.EncodeToString(payloadDigest[:]) || r.PayloadSize != uint64(len(payload)) ||
				r.PayloadURI != "https://updates.example.com/fw.bin" || r.Algorithm != tt.algorithm || r.KeyID != wantKeyID ||
				r.Size != len(data) {
				t.Errorf("inspect -o json: %+v", r)
			}
			text := mustRun(t, "manifest", "inspect", out)
			for _, want := range []string{vendor.String(), class.String(), hex.EncodeToString(payloadDigest[:]), "https://updates.example.com/fw.bin", tt.algorithm} {
				if !strings.Contains(text, want) {
					t.Errorf("inspect output lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestManifestVerifyFailures(t *testing.T) {
	ec := ecSigningFiles(t)
	other := ecSigningFiles(t)
	dir := t.TempDir()
	payloadPath := writeTemp(t, dir, "fw.bin", []byte("firmware"))
	out := filepath.Join(dir, "m")
	mustRun(t, "manifest", "create", "--key", ec.key, "--payload", payloadPath, "--url", "https://x.example/fw",
		"--version", "1.0.0", "--vendor-id", "cfbff0d193755685968c48ce8b15ae17", "--class-id", "19d8c6a8-8d3d-5a7f-850d-7fda08b37d20", "-o", out)
	data, _ := os.ReadFile(out)
	corrupted := []byte(string(data))
	corrupted[20] ^= 0xff
	badPath := writeTemp(t, dir, "bad", corrupted)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"wrong key", []string{"manifest", "verify", "--key", other.pub, out}, "SignatureInvalid"},
		{"wrong certificate", []string{"manifest", "verify", "--cert", other.cert, out}, "SignatureInvalid"},
		{"corrupted", []string{"manifest", "verify", "--key", ec.pub, badPath}, "manifest rejected"},
		{"no key", []string{"manifest", "verify", out}, "--key or --cert"},
		{"not a manifest", []string{"manifest", "verify", "--key", ec.pub, payloadPath}, "Malformed"},
		{"key file is a manifest", []string{"manifest", "verify", "--key", out, out}, "--key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runFleetwave(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// The public vectors verify through the CLI from binary files.
func TestManifestVerifyVectors(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"v3_raw", "v3_delta_signed_image"} {
		mustRun(t, "manifest", "verify", "--key", testvectors.Path(t, "pelion-v3", "test.pub.key.bin"),
			testvectors.Path(t, "pelion-v3", name+".manifest.bin"))
	}
	for i := 0; i <= 5; i++ {
		name := "example-" + string(rune('0'+i))
		path := writeTemp(t, dir, name+".suit", testvectors.ReadHex(t, "suit", name+".hex"))
		line := mustRun(t, "manifest", "verify", "--key", testvectors.Path(t, "suit", "example-public-key.pem"), path)
		if !strings.Contains(line, "fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe") {
			t.Errorf("%s: %s", name, line)
		}
	}
}

func TestManifestCreateDelta(t *testing.T) {
	ec := ecSigningFiles(t)
	dir := t.TempDir()
	oldImage := writeTemp(t, dir, "old.bin", []byte("old firmware image"))
	newImage := writeTemp(t, dir, "new.bin", []byte("new firmware image, longer"))
	patch := writeTemp(t, dir, "patch.bin", []byte("patch"))
	vendorData := writeTemp(t, dir, "vendor.bin", []byte("build 7"))
	out := filepath.Join(dir, "delta.manifest")
	mustRun(t, "manifest", "create", "--key", ec.key, "--payload", patch, "--url", "https://x.example/p",
		"--version", "1.0.1", "--domain", "example.com", "--model", "m", "--payload-format", "arm-patch-stream",
		"--installed", newImage, "--precursor", oldImage, "--sign-image", "--priority", "3", "--vendor-data", vendorData, "-o", out)
	data, _ := os.ReadFile(out)
	p, err := manifest.DecodePelionV3(data)
	if err != nil {
		t.Fatal(err)
	}
	oldDigest := sha256.Sum256([]byte("old firmware image"))
	newDigest := sha256.Sum256([]byte("new firmware image, longer"))
	md := p.Manifest.Metadata
	if md == nil || hex.EncodeToString(md.PrecursorDigest) != hex.EncodeToString(oldDigest[:]) ||
		hex.EncodeToString(md.InstalledDigest) != hex.EncodeToString(newDigest[:]) || md.InstalledSize != 26 ||
		len(p.Manifest.InstalledSignature) != 64 || p.Manifest.Priority != 3 || string(p.Manifest.VendorData) != "build 7" {
		t.Errorf("delta manifest %+v metadata %+v", p.Manifest, md)
	}
	if r := inspectJSON(t, out); r.PrecursorDigest != hex.EncodeToString(oldDigest[:]) || r.PayloadFormat != "arm-patch-stream" {
		t.Errorf("inspect: %+v", r)
	}
}

func TestManifestCreateErrors(t *testing.T) {
	ec := ecSigningFiles(t)
	dir := t.TempDir()
	payload := writeTemp(t, dir, "fw.bin", []byte("fw"))
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	rsaPath := writeTemp(t, dir, "rsa.pem", rsaPEM)
	base := []string{"manifest", "create", "--payload", payload, "--url", "https://x.example/fw", "--version", "1.0.0", "-o", filepath.Join(dir, "out")}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"--key", ec.key, "--domain", "example.com", "--model", "m", "--format", "v1"}, "--format"},
		{"no vendor", []string{"--key", ec.key, "--model", "m"}, "vendor"},
		{"domain and vendor id", []string{"--key", ec.key, "--domain", "example.com", "--vendor-id", "cfbff0d193755685968c48ce8b15ae17", "--model", "m"}, "not both"},
		{"bad class id", []string{"--key", ec.key, "--domain", "example.com", "--class-id", "nope"}, "--class-id"},
		{"RSA key", []string{"--key", rsaPath, "--domain", "example.com", "--model", "m"}, "RSA"},
		{"SUIT delta", []string{"--key", ec.key, "--domain", "example.com", "--model", "m", "--format", "suit", "--payload-format", "arm-patch-stream"}, "raw-binary"},
		{"bad version", []string{"--key", ec.key, "--domain", "example.com", "--model", "m", "--version", "1.0"}, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runFleetwave(t, append(append([]string{}, base...), tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
			block, _ := pem.Decode(rsaPEM)
			if strings.Contains(err.Error(), hex.EncodeToString(block.Bytes[:16])) {
				t.Fatal("error contains key bytes")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Error("a failed create left an output file")
	}
}

func TestManifestInspectRejectsGarbage(t *testing.T) {
	path := writeTemp(t, t.TempDir(), "garbage", []byte{0x30, 0x03, 0x01, 0x02})
	if _, err := runFleetwave(t, "manifest", "inspect", path); err == nil || !strings.Contains(err.Error(), "Malformed") {
		t.Errorf("inspect garbage: %v", err)
	}
	if _, err := runFleetwave(t, "manifest", "inspect", "-o", "yaml", path); err == nil {
		t.Error("inspect -o yaml succeeded")
	}
}

// A root key delegates to an Ed25519 key; manifests that key signs verify against the root alone, and
// inspect shows the chain, the version and the version condition.
func TestManifestDelegation(t *testing.T) {
	root, delegate, stranger := ecSigningFiles(t), ed25519SigningFiles(t), ecSigningFiles(t)
	dir := t.TempDir()
	payloadPath := writeTemp(t, dir, "fw.bin", []byte("firmware"))
	chain := filepath.Join(dir, "chain.cbor")
	mustRun(t, "manifest", "delegate", "--key", root.key, "--to", delegate.pub, "--subject", "ci", "--valid-for", "720h", "-o", chain)
	out := filepath.Join(dir, "fw.suit")
	mustRun(t, "manifest", "create", "--format", "suit", "--algorithm", "EdDSA", "--key", delegate.key, "--delegation", chain,
		"--payload", payloadPath, "--url", "https://updates.example.com/fw.bin", "--version", "1.9.0",
		"--domain", "example.com", "--model", "widget-rev-a", "-o", out)
	line := mustRun(t, "manifest", "verify", "--key", root.pub, out)
	rootKID, _ := manifest.KeyID(root.public)
	if !strings.Contains(line, "signature OK") || !strings.Contains(line, "delegated from trusted key "+hex.EncodeToString(rootKID)) {
		t.Errorf("verify printed %q", line)
	}
	if _, err := runFleetwave(t, "manifest", "verify", "--key", stranger.pub, out); err == nil || !strings.Contains(err.Error(), "DelegationInvalid") {
		t.Errorf("verify with another root: %v, want DelegationInvalid", err)
	}
	r := inspectJSON(t, out)
	delegateKID, _ := manifest.KeyID(delegate.public)
	if r.SUIT == nil || r.SUIT.SetVersion != "1.9.0" || len(r.SUIT.Delegation) != 1 || len(r.SUIT.Delegation[0]) != 1 ||
		r.SUIT.Delegation[0][0].KeyID != hex.EncodeToString(delegateKID) || r.SUIT.Delegation[0][0].Subject != "ci" ||
		r.SUIT.Delegation[0][0].Expires == 0 {
		t.Fatalf("inspect: %+v", r.SUIT)
	}
	var kinds []string
	for _, c := range r.SUIT.Conditions {
		kinds = append(kinds, c.Kind+" "+c.Comparison+" "+c.Version.String())
	}
	if got := strings.Join(kinds, "; "); got != "version < 1.9.0; delegation-expires  " {
		t.Errorf("conditions %q", got)
	}
	// A chain must end at the signing key.
	if _, err := runFleetwave(t, "manifest", "create", "--format", "suit", "--key", stranger.key, "--delegation", chain,
		"--payload", payloadPath, "--url", "https://updates.example.com/fw.bin", "--version", "1.9.0",
		"--domain", "example.com", "--model", "widget-rev-a", "-o", filepath.Join(dir, "x")); err == nil ||
		!strings.Contains(err.Error(), "delegation chain does not delegate to the signing key") {
		t.Errorf("create with a chain to another key: %v", err)
	}
}

// Signature and support are separate answers: an envelope of another implementation whose signature
// is fine verifies and lists what devices would not run; --strict makes that a failure.
func TestManifestVerifyStrict(t *testing.T) {
	path := testvectors.Path(t, "suit", "firmware-encryption", "suit-manifest-es-ecdh-content.suit")
	key := testvectors.Path(t, "suit", "example-public-key.pem")
	out := mustRun(t, "manifest", "verify", "--key", key, path)
	if !strings.Contains(out, "signature OK") || !strings.Contains(out, "not run by the device-side interpreter: parameter 19 (encryption-info") {
		t.Errorf("verify printed %q", out)
	}
	if _, err := runFleetwave(t, "manifest", "verify", "--strict", "--key", key, path); err == nil || !strings.Contains(err.Error(), "--strict") {
		t.Errorf("verify --strict: %v, want a failure", err)
	}
	example := writeTemp(t, t.TempDir(), "example-1.suit", testvectors.ReadHex(t, "suit", "example-1.hex"))
	mustRun(t, "manifest", "verify", "--strict", "--key", key, example)
}

// inspect shows a dependency integrated in another implementation's envelope and the order devices
// process it in.
func TestManifestInspectDependency(t *testing.T) {
	path := testvectors.Path(t, "suit", "firmware-encryption", "suit-manifest-es-ecdh-dependency.suit")
	r := inspectJSON(t, path)
	if r.SUIT == nil || r.SUIT.ManifestID != "dependent-manifest.suit" || len(r.SUIT.Dependencies) != 1 {
		t.Fatalf("inspect: %+v", r.SUIT)
	}
	d := r.SUIT.Dependencies[0]
	if d.Index != 1 || d.Name != "dependency-manifest.suit" || !d.Integrated || d.URI != "#dependency-manifest" ||
		d.Digest != "4b15c90fbd776a820e7e733df040d90b356b5c75982ecaece8673818179bdf16" {
		t.Errorf("dependency %+v", d)
	}
	if got := strings.Join(r.SUIT.Processed, ","); got != "dependency-manifest.suit/install,dependent-manifest.suit/install" {
		t.Errorf("processed %s", got)
	}
	text := mustRun(t, "manifest", "inspect", path)
	for _, want := range []string{"dependency 1", "integrated as #dependency-manifest", "not run by devices"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect text lacks %q:\n%s", want, text)
		}
	}
}
