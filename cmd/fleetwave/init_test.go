package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
)

// runFleetwave runs the CLI in-process and returns what it printed.
func runFleetwave(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runFleetwave(t, args...)
	if err != nil {
		t.Fatalf("fleetwave %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestInitWritesKeyCertificateSecretAndDeviceResources(t *testing.T) {
	dir := t.TempDir()
	out := mustRun(t, "init", "--domain", "example.com", "--model", "widget-rev-a", "--out", dir, "--namespace", "fleet")

	keyPEM := readFile(t, dir, initKeyFile)
	key, err := manifest.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatalf("the key does not parse: %v", err)
	}
	if _, ok := key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("key is %T, want EC P-256", key)
	}
	block, _ := pem.Decode(keyPEM)
	if strings.Contains(out, base64.StdEncoding.EncodeToString(block.Bytes)[:40]) {
		t.Fatal("init printed private key material")
	}
	for name, want := range map[string]os.FileMode{initKeyFile: 0o600, initSecretFile: 0o600, initCertFile: 0o644} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != want {
			t.Errorf("%s mode %v (%v), want %v", name, info.Mode().Perm(), err, want)
		}
	}

	certBlock, _ := pem.Decode(readFile(t, dir, initCertFile))
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := manifest.CheckCertificateKey(cert, key); err != nil {
		t.Errorf("certificate and key: %v", err)
	}
	keyID, _ := manifest.KeyID(key.Public())
	if cert.KeyUsage != x509.KeyUsageDigitalSignature || len(cert.ExtKeyUsage) != 1 ||
		cert.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning || !bytes.Equal(cert.SubjectKeyId, keyID[:20]) || cert.IsCA {
		t.Errorf("certificate usage %v %v, SKI %x", cert.KeyUsage, cert.ExtKeyUsage, cert.SubjectKeyId)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("certificate is not self-signed: %v", err)
	}

	var secret corev1.Secret
	if err := yaml.UnmarshalStrict(readFile(t, dir, initSecretFile), &secret); err != nil {
		t.Fatalf("Secret manifest: %v", err)
	}
	if secret.Kind != "Secret" || secret.APIVersion != "v1" || secret.Type != corev1.SecretTypeTLS ||
		secret.Name != "update-signing-key" || secret.Namespace != "fleet" {
		t.Errorf("Secret %s/%s %s/%s type %s", secret.Namespace, secret.Name, secret.APIVersion, secret.Kind, secret.Type)
	}
	if !bytes.Equal(secret.Data[corev1.TLSPrivateKeyKey], keyPEM) || !bytes.Equal(secret.Data[corev1.TLSCertKey], readFile(t, dir, initCertFile)) {
		t.Error("the Secret does not hold the key and certificate files")
	}

	vendor, _ := manifest.VendorIDFromDomain("example.com")
	class, _ := manifest.ClassIDFromModel(vendor, "widget-rev-a")
	point, _ := manifest.X962PublicKey(key.Public())
	arrays := parseCArrays(t, string(readFile(t, dir, initResourcesFile)))
	for name, want := range map[string][]byte{
		"arm_uc_vendor_id":           vendor[:],
		"arm_uc_class_id":            class[:],
		"arm_uc_default_certificate": cert.Raw,
		"arm_uc_update_public_key":   point,
		"arm_uc_default_fingerprint": {0},
	} {
		if !bytes.Equal(arrays[name], want) {
			t.Errorf("%s = %x, want %x", name, arrays[name], want)
		}
	}
	if !strings.Contains(out, vendor.String()) || !strings.Contains(out, class.String()) || !strings.Contains(out, hex.EncodeToString(keyID)) {
		t.Errorf("init output does not show the ids:\n%s", out)
	}
}

// parseCArrays reads `const uint8_t NAME[] = { 0x.., ... };` definitions.
func parseCArrays(t *testing.T, src string) map[string][]byte {
	t.Helper()
	arrays := map[string][]byte{}
	re := regexp.MustCompile(`const uint8_t (\w+)\[\] = \{([^}]*)\};`)
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		var b []byte
		for _, tok := range strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			v, err := strconv.ParseUint(tok, 0, 8)
			if err != nil {
				t.Fatalf("%s: %v", m[1], err)
			}
			b = append(b, byte(v))
		}
		arrays[m[1]] = b
	}
	return arrays
}

// The generated file compiles as C, as device firmware builds compile it.
func TestInitDeviceResourcesCompile(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler on this machine; the arrays are checked by TestInitWritesKeyCertificateSecretAndDeviceResources")
	}
	dir := t.TempDir()
	mustRun(t, "init", "--domain", "example.com", "--model", "m", "--out", dir)
	cmd := exec.Command(cc, "-std=c99", "-Wall", "-Werror", "-c", "-o", filepath.Join(dir, "r.o"), filepath.Join(dir, initResourcesFile))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling %s: %v\n%s", initResourcesFile, err, out)
	}
}

func TestInitKeepsExistingFiles(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "init", "--domain", "example.com", "--model", "m", "--out", dir)
	before := readFile(t, dir, initKeyFile)
	if _, err := runFleetwave(t, "init", "--domain", "example.com", "--model", "m", "--out", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init: %v, want a refusal mentioning --force", err)
	}
	if !bytes.Equal(readFile(t, dir, initKeyFile), before) {
		t.Fatal("a refused init changed the key")
	}
	mustRun(t, "init", "--domain", "example.com", "--model", "m", "--out", dir, "--force")
	if bytes.Equal(readFile(t, dir, initKeyFile), before) {
		t.Fatal("init --force kept the old key")
	}
}

// init --delegate: the Secret holds the delegated key and the chain, the device resources the root.
// A SUIT manifest made from the Secret's entries, as the Manifest controller reads them, verifies on a
// device that trusts only the root; without the chain that device refuses it.
func TestInitDelegateMakesARootAndADelegatedKey(t *testing.T) {
	dir := t.TempDir()
	out := mustRun(t, "init", "--domain", "example.com", "--model", "widget-rev-a", "--out", dir, "--delegate")

	var secret corev1.Secret
	if err := yaml.UnmarshalStrict(readFile(t, dir, initSecretFile), &secret); err != nil {
		t.Fatalf("Secret manifest: %v", err)
	}
	rootKey, err := manifest.ParsePrivateKey(readFile(t, dir, initRootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	signer, chain := secretSigningKey(t, secret)
	if !bytes.Equal(secret.Data[corev1.TLSPrivateKeyKey], readFile(t, dir, initKeyFile)) ||
		!bytes.Equal(chain, readFile(t, dir, initDelegationFile)) {
		t.Error("the Secret does not hold the signing key and chain files")
	}
	rootDER, _ := pem.Decode(readFile(t, dir, initRootKeyFile))
	for name, v := range secret.Data {
		if block, _ := pem.Decode(v); block != nil && bytes.Equal(block.Bytes, rootDER.Bytes) {
			t.Errorf("the Secret's %s is the root key", name)
		}
	}
	rootKID, _ := manifest.KeyID(rootKey.Public())
	signerKID, _ := manifest.KeyID(signer.Public())
	if bytes.Equal(rootKID, signerKID) || secret.Annotations["update.fleetwave.io/root-key-id"] != hex.EncodeToString(rootKID) ||
		secret.Annotations["update.fleetwave.io/key-id"] != hex.EncodeToString(signerKID) || !strings.Contains(out, hex.EncodeToString(rootKID)) {
		t.Errorf("key ids: root %x, signer %x, annotations %v, output:\n%s", rootKID, signerKID, secret.Annotations, out)
	}

	// The device trusts what update_default_resources.c compiles in: the root's public key.
	arrays := parseCArrays(t, string(readFile(t, dir, initResourcesFile)))
	devicePub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), arrays["arm_uc_update_public_key"])
	if err != nil {
		t.Fatal(err)
	}
	rootCert, _ := pem.Decode(readFile(t, dir, initRootCertFile))
	if !devicePub.Equal(rootKey.Public()) || !bytes.Equal(arrays["arm_uc_default_certificate"], rootCert.Bytes) {
		t.Fatal("the device resources do not hold the root key and certificate")
	}
	trusted := []crypto.PublicKey{devicePub}
	spec := delegatedTestSpec(t)
	spec.Delegation = chain
	data, err := manifest.Build(spec, signer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := manifest.Verify(data, trusted)
	if err != nil || !bytes.Equal(s.AnchorKeyID, rootKID) || !bytes.Equal(s.SignerKeyID, signerKID) {
		t.Fatalf("a device trusting the root: %+v, %v", s, err)
	}
	spec.Delegation = nil
	bare, err := manifest.Build(spec, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := manifest.Verify(bare, trusted); manifest.FailureOf(err) != manifest.FailureSignatureInvalid {
		t.Errorf("without the chain: %v, want SignatureInvalid", err)
	}
}

// secretSigningKey reads the Secret as the Manifest controller does: tls.key, tls.crt certifying it,
// delegation.cbor delegating to it.
func secretSigningKey(t *testing.T, secret corev1.Secret) (crypto.Signer, manifest.Delegation) {
	t.Helper()
	key, err := manifest.ParsePrivateKey(secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(secret.Data[corev1.TLSCertKey])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := manifest.CheckCertificateKey(cert, key); err != nil {
		t.Fatalf("tls.crt: %v", err)
	}
	chain := manifest.Delegation(secret.Data[v1.SigningKeyDelegationKey])
	if err := chain.CheckDelegation(key.Public()); err != nil {
		t.Fatalf("delegation.cbor: %v", err)
	}
	return key, chain
}

func delegatedTestSpec(t *testing.T) manifest.Spec {
	t.Helper()
	vendor, _ := manifest.VendorIDFromDomain("example.com")
	class, _ := manifest.ClassIDFromModel(vendor, "widget-rev-a")
	digest := sha256.Sum256([]byte("firmware"))
	return manifest.Spec{Format: manifest.FormatSUIT, VendorID: vendor, ClassID: class, Version: "1.0.0",
		PayloadDigest: digest[:], PayloadSize: 8, PayloadURI: "https://updates.example.com/fw.bin"}
}

func TestInitRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"init", "--model", "m"},
		{"init", "--domain", "localhost", "--model", "m"},
		{"init", "--domain", "example.com", "--model", "m", "--validity-days", "0"},
	} {
		if _, err := runFleetwave(t, append(args, "--out", t.TempDir())...); err == nil {
			t.Errorf("fleetwave %v succeeded", args)
		}
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
