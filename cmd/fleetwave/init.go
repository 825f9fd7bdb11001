package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/fleetwave/fleetwave/internal/manifest"
)

// Files `fleetwave init` writes into --out.
const (
	initKeyFile       = "update.key.pem"
	initCertFile      = "update.crt.pem"
	initSecretFile    = "update-signing-key.secret.yaml"
	initResourcesFile = "update_default_resources.c"

	// With --delegate: the root key devices trust, its certificate, and the SUIT delegation chain from
	// it to the signing key.
	initRootKeyFile    = "update-root.key.pem"
	initRootCertFile   = "update-root.crt.pem"
	initDelegationFile = "update.delegation.cbor"
	// initSecretDelegation is the Secret entry the Manifest controller reads a delegation chain from
	// (v1alpha1.SigningKeyDelegationKey; the API package would link the Kubernetes types).
	initSecretDelegation = "delegation.cbor"
)

type initOptions struct {
	domain       string
	model        string
	out          string
	secretName   string
	namespace    string
	validityDays int
	force        bool
	delegate     bool
}

func newInitCmd() *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init --domain DOMAIN --model MODEL",
		Short: "Create a manifest signing key, its certificate, a Secret for it and the device's update resources",
		Long: `Creates, like manifest-dev-tool init and mbed dm init do:

  ` + initKeyFile + `     EC P-256 private key (PKCS#8 PEM) that signs manifests
  ` + initCertFile + `     self-signed code-signing certificate for that key
  ` + initSecretFile + `  a kubernetes.io/tls Secret holding both, for Manifest objects' signingKey
  ` + initResourcesFile + `  vendor id, class id, certificate and public key arrays device firmware compiles in

The vendor id is uuid5(DNS, DOMAIN) and the class id uuid5(vendor id, MODEL). The keys and the Secret
are written readable by their owner only; existing files are kept unless --force is given.

--delegate makes a second key, the root devices trust, and delegates SUIT manifest signing from it to
the signing key, as 'fleetwave manifest delegate' does:

  ` + initRootKeyFile + `     the root's private key: keep it offline, it is in no Secret
  ` + initRootCertFile + `     its certificate
  ` + initDelegationFile + `  the delegation chain, also in the Secret as ` + initSecretDelegation + `

` + initResourcesFile + ` then holds the root's certificate and public key; SUIT manifests signed with the
Secret carry the chain, so devices that trust only the root accept them. Pelion v3 manifests have no
delegation: devices that trust only the root refuse those.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(o, cmd.OutOrStdout(), time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.domain, "domain", "", "vendor's DNS domain; the vendor id is derived from it (required)")
	f.StringVar(&o.model, "model", "", "device model name; the class id is derived from it (required)")
	f.StringVar(&o.out, "out", ".", "directory to write into")
	f.StringVar(&o.secretName, "secret-name", "update-signing-key", "name of the Secret")
	f.StringVar(&o.namespace, "namespace", "", "namespace of the Secret (default: none, kubectl's current namespace)")
	f.IntVar(&o.validityDays, "validity-days", 20*365, "certificate validity; devices do not check it")
	f.BoolVar(&o.force, "force", false, "overwrite existing files")
	f.BoolVar(&o.delegate, "delegate", false, "also make a root key for devices to trust, delegating SUIT manifest signing to the signing key")
	_ = cmd.MarkFlagRequired("domain")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

// updateIdentity is what init derives and writes.
type updateIdentity struct {
	domain, model string
	vendor, class uuid.UUID
	signer        *updateKey // the key the Secret holds
	root          *updateKey // the key devices trust: signer itself, unless --delegate
	// delegation is the chain from root to signer; nil unless --delegate.
	delegation     manifest.Delegation
	secretName, ns string
}

// updateKey is a key init makes, with its certificate and the forms of its public key it writes.
type updateKey struct {
	key           *ecdsa.PrivateKey
	certDER       []byte
	keyID         []byte
	publicKeyX962 []byte
}

func runInit(o initOptions, out io.Writer, now time.Time) error {
	if o.validityDays <= 0 {
		return errors.New("--validity-days must be positive")
	}
	id, err := newUpdateIdentity(o, now)
	if err != nil {
		return err
	}
	files, err := id.files()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o750); err != nil {
		return err
	}
	if !o.force {
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(o.out, f.name)); err == nil {
				return fmt.Errorf("%s already exists; use --force to overwrite", filepath.Join(o.out, f.name))
			}
		}
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(o.out, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "vendor id  %s  (uuid5(DNS, %q))\n", id.vendor, id.domain)
	fmt.Fprintf(out, "class id   %s  (uuid5(vendor id, %q))\n", id.class, id.model)
	fmt.Fprintf(out, "key id     %x\n", id.signer.keyID)
	if id.delegation != nil {
		fmt.Fprintf(out, "root id    %x  (devices trust it; it delegates to the key id above)\n", id.root.keyID)
	}
	for _, f := range files {
		fmt.Fprintf(out, "wrote      %s\n", filepath.Join(o.out, f.name))
	}
	return nil
}

func newUpdateIdentity(o initOptions, now time.Time) (*updateIdentity, error) {
	vendor, err := manifest.VendorIDFromDomain(o.domain)
	if err != nil {
		return nil, fmt.Errorf("--domain: %w", err)
	}
	class, err := manifest.ClassIDFromModel(vendor, o.model)
	if err != nil {
		return nil, fmt.Errorf("--model: %w", err)
	}
	validity := time.Duration(o.validityDays) * 24 * time.Hour
	signer, err := newUpdateKey(o.domain, now, validity)
	if err != nil {
		return nil, err
	}
	id := &updateIdentity{domain: o.domain, model: o.model, vendor: vendor, class: class,
		signer: signer, root: signer, secretName: o.secretName, ns: o.namespace}
	if o.delegate {
		if id.root, err = newUpdateKey(o.domain, now, validity); err != nil {
			return nil, err
		}
		// The same chain 'fleetwave manifest delegate --key ROOT --to KEY --issuer DOMAIN --subject MODEL' writes.
		claims := manifest.DelegationClaims{Issuer: o.domain, Subject: o.model}
		if id.delegation, err = manifest.NewDelegation(nil, id.root.key, manifest.AlgorithmES256, signer.key.Public(), claims); err != nil {
			return nil, fmt.Errorf("delegating from the root key: %w", err)
		}
	}
	return id, nil
}

// newUpdateKey generates an EC P-256 key and its code-signing certificate.
func newUpdateKey(domain string, now time.Time, validity time.Duration) (*updateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	keyID, err := manifest.KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	certDER, err := codeSigningCertificate(key, domain, keyID, now, validity)
	if err != nil {
		return nil, err
	}
	point, err := manifest.X962PublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	return &updateKey{key: key, certDER: certDER, keyID: keyID, publicKeyX962: point}, nil
}

// codeSigningCertificate self-signs a certificate for key the way manifest-dev-tool does: key usage
// digitalSignature, extended key usage codeSigning, subject key id = the first 20 bytes of the key id
// (RFC 7093 method 1). Devices use it only as a container for the public key.
func codeSigningCertificate(key crypto.Signer, domain string, keyID []byte, now time.Time, validity time.Duration) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: domain, Organization: []string{domain}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          keyID[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating the certificate: %w", err)
	}
	return der, nil
}

type outputFile struct {
	name string
	data []byte
	mode fs.FileMode
}

func (id *updateIdentity) files() ([]outputFile, error) {
	keyPEM, certPEM, err := id.signer.pem()
	if err != nil {
		return nil, err
	}
	secret, err := id.secret(keyPEM, certPEM)
	if err != nil {
		return nil, err
	}
	resources, err := id.deviceResources()
	if err != nil {
		return nil, err
	}
	files := []outputFile{
		{initKeyFile, keyPEM, 0o600},
		{initCertFile, certPEM, 0o644},
		{initSecretFile, secret, 0o600},
		{initResourcesFile, resources, 0o644},
	}
	if id.delegation == nil {
		return files, nil
	}
	rootKeyPEM, rootCertPEM, err := id.root.pem()
	if err != nil {
		return nil, err
	}
	return append(files,
		outputFile{initRootKeyFile, rootKeyPEM, 0o600},
		outputFile{initRootCertFile, rootCertPEM, 0o644},
		outputFile{initDelegationFile, id.delegation, 0o644},
	), nil
}

// pem encodes the private key (PKCS#8) and the certificate.
func (k *updateKey) pem() (keyPEM, certPEM []byte, err error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding a private key: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return keyPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.certDER}), nil
}

// secret is the kubernetes.io/tls Secret a Manifest's spec.signingKey.secretRef names.
func (id *updateIdentity) secret(keyPEM, certPEM []byte) ([]byte, error) {
	s := secretManifest{
		APIVersion: "v1",
		Kind:       "Secret",
		Metadata: secretMetadata{
			Name:      id.secretName,
			Namespace: id.ns,
			// update.fleetwave.io/signing-key puts the Secret in the operator's watch
			// (controllers.SigningKeyLabel), so Manifests using it notice it at once.
			Labels: map[string]string{"app.kubernetes.io/part-of": "fleetwave", "update.fleetwave.io/signing-key": "true"},
			Annotations: map[string]string{
				"update.fleetwave.io/vendor-domain": id.domain,
				"update.fleetwave.io/model-name":    id.model,
				"update.fleetwave.io/vendor-id":     id.vendor.String(),
				"update.fleetwave.io/class-id":      id.class.String(),
				"update.fleetwave.io/key-id":        hex.EncodeToString(id.signer.keyID),
			},
		},
		Type: "kubernetes.io/tls",
		Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM},
	}
	if id.delegation != nil {
		s.Metadata.Annotations["update.fleetwave.io/root-key-id"] = hex.EncodeToString(id.root.keyID)
		s.Data[initSecretDelegation] = id.delegation
	}
	data, err := yaml.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding the Secret: %w", err)
	}
	return data, nil
}

var deviceResourcesTemplate = template.Must(template.New("c").Parse(`// Update identity and trust anchor of {{.Model}} devices from {{.Domain}}: the firmware accepts only
// manifests for this vendor and class, signed by this key (SUIT manifests also by a key it delegates
// to). Written by fleetwave init; regenerate it rather than edit it.
//
//   vendor id  {{.Vendor}}  uuid5(DNS, "{{.Domain}}")
//   class id   {{.Class}}  uuid5(vendor id, "{{.Model}}")
//   key id     {{.KeyID}}  SHA-256 of the public key (SubjectPublicKeyInfo)

#include <inttypes.h>

const uint8_t arm_uc_vendor_id[] = {
{{.VendorBytes}}
};
const uint16_t arm_uc_vendor_id_size = sizeof(arm_uc_vendor_id);

const uint8_t arm_uc_class_id[] = {
{{.ClassBytes}}
};
const uint16_t arm_uc_class_id_size = sizeof(arm_uc_class_id);

// Unused; kept because older Device Management Client releases link against it.
const uint8_t arm_uc_default_fingerprint[] = {
    0
};
const uint16_t arm_uc_default_fingerprint_size = sizeof(arm_uc_default_fingerprint);

// The update certificate (DER), for clients built to trust an X.509 certificate.
const uint8_t arm_uc_default_certificate[] = {
{{.CertBytes}}
};
const uint16_t arm_uc_default_certificate_size = sizeof(arm_uc_default_certificate);

// The update public key as an uncompressed X9.62 point, for clients built to trust a raw key.
const uint8_t arm_uc_update_public_key[] = {
{{.PublicKeyBytes}}
};
`))

// deviceResources renders update_default_resources.c with the arrays manifest-dev-tool's template
// defines, so existing firmware builds compile it unchanged. Devices trust the root key.
func (id *updateIdentity) deviceResources() ([]byte, error) {
	var buf bytes.Buffer
	err := deviceResourcesTemplate.Execute(&buf, map[string]string{
		"Domain":         id.domain,
		"Model":          id.model,
		"Vendor":         id.vendor.String(),
		"Class":          id.class.String(),
		"KeyID":          hex.EncodeToString(id.root.keyID),
		"VendorBytes":    cByteArray(id.vendor[:]),
		"ClassBytes":     cByteArray(id.class[:]),
		"CertBytes":      cByteArray(id.root.certDER),
		"PublicKeyBytes": cByteArray(id.root.publicKeyX962),
	})
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", initResourcesFile, err)
	}
	return buf.Bytes(), nil
}

// cByteArray formats bytes as the body of a C array initialiser, 12 to a line.
func cByteArray(b []byte) string {
	var lines []string
	for start := 0; start < len(b); start += 12 {
		chunk := b[start:min(start+12, len(b))]
		items := make([]string, len(chunk))
		for i, c := range chunk {
			items[i] = fmt.Sprintf("0x%02x", c)
		}
		lines = append(lines, "    "+strings.Join(items, ", "))
	}
	return strings.Join(lines, ",\n")
}

// writeFileAtomic writes through a temporary file and a rename, so an interrupted run never leaves a
// half-written file behind.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(tmp.Name()))
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if _, err := tmp.Write(data); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
