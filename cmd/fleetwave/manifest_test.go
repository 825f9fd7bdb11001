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
