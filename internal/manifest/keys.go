package manifest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// maxKeyInput bounds key and certificate files; real ones are a few hundred bytes to a few KiB.
const maxKeyInput = 64 << 10

// ParsePrivateKey reads a PEM private key: PKCS#8 ("PRIVATE KEY") holding EC P-256 or Ed25519, or SEC1
// ("EC PRIVATE KEY") on P-256. Other PEM blocks before the key (such as the "EC PARAMETERS" block
// `openssl ecparam -genkey` writes) are skipped. RSA keys, other curves and encrypted keys are errors
// (ErrUnsupportedKey, ErrEncryptedKey); no error ever contains key bytes.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	if len(pemBytes) > maxKeyInput {
		return nil, fmt.Errorf("private key file larger than %d bytes", maxKeyInput)
	}
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: want a PEM private key (PRIVATE KEY or EC PRIVATE KEY)", ErrNoKey)
		}
		switch block.Type {
		case "ENCRYPTED PRIVATE KEY":
			return nil, ErrEncryptedKey
		case "PRIVATE KEY", "EC PRIVATE KEY":
			if _, encrypted := block.Headers["DEK-Info"]; encrypted {
				return nil, ErrEncryptedKey
			}
			return parsePrivateKeyDER(block.Type, block.Bytes)
		case "RSA PRIVATE KEY":
			return nil, fmt.Errorf("%w: RSA; use an EC P-256 or Ed25519 key", ErrUnsupportedKey)
		}
	}
}

func parsePrivateKeyDER(pemType string, der []byte) (crypto.Signer, error) {
	var key any
	var err error
	if pemType == "EC PRIVATE KEY" {
		key, err = x509.ParseECPrivateKey(der)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		// x509's messages describe the structure, never the key bytes.
		return nil, fmt.Errorf("parsing %s: %w", pemType, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: EC key on curve %s; use P-256", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("%w: %s; use an EC P-256 or Ed25519 key", ErrUnsupportedKey, keyTypeName(key))
	}
}

// ParsePublicKey accepts a PEM public key (SubjectPublicKeyInfo), an X.509 certificate (PEM or DER), a
// DER SubjectPublicKeyInfo or a raw X9.62 uncompressed P-256 point (65 bytes, 04||X||Y, the form
// `manifest-tool public-key` writes) and returns an *ecdsa.PublicKey on P-256 or an ed25519.PublicKey.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	if len(data) > maxKeyInput {
		return nil, fmt.Errorf("public key file larger than %d bytes", maxKeyInput)
	}
	if len(data) == 65 && data[0] == 4 {
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), data)
		if err != nil {
			return nil, fmt.Errorf("X9.62 public key: %w", err)
		}
		return pub, nil
	}
	if block, _ := pem.Decode(data); block != nil {
		switch block.Type {
		case "PUBLIC KEY":
			return parseSPKI(block.Bytes)
		case "CERTIFICATE":
			return parseCertificateKey(block.Bytes)
		case "PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY":
			return nil, fmt.Errorf("%w: got a private key where a public key or certificate was expected", ErrNoKey)
		default:
			return nil, fmt.Errorf("%w: unexpected PEM block %q", ErrNoKey, block.Type)
		}
	}
	if pub, err := parseCertificateKey(data); err == nil {
		return pub, nil
	}
	if pub, err := parseSPKI(data); err == nil {
		return pub, nil
	}
	return nil, fmt.Errorf("%w: want a PEM public key, an X.509 certificate or a 65-byte X9.62 point", ErrNoKey)
}

func parseSPKI(der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	return checkPublicKey(pub)
}

func parseCertificateKey(der []byte) (crypto.PublicKey, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	return checkPublicKey(cert.PublicKey)
}

// checkPublicKey admits the key types manifests are signed with.
func checkPublicKey(pub any) (crypto.PublicKey, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: EC key on curve %s; use P-256", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return k, nil
	case ed25519.PublicKey:
		return k, nil
	default:
		return nil, fmt.Errorf("%w: %s; use an EC P-256 or Ed25519 key", ErrUnsupportedKey, keyTypeName(pub))
	}
}

func keyTypeName(key any) string {
	switch k := key.(type) {
	case *rsa.PrivateKey, *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "EC " + k.Curve.Params().Name
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	default:
		return fmt.Sprintf("%T", key)
	}
}

// DER SubjectPublicKeyInfo prefixes of the two key types manifests are signed with: what
// x509.MarshalPKIXPublicKey writes before the key bytes. KeyID runs on every SUIT build, and the
// generic marshaller costs several times the rest of the build.
var (
	spkiPrefixP256    = []byte{0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00}
	spkiPrefixEd25519 = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}
)

// KeyID identifies a public key: SHA-256 of its DER SubjectPublicKeyInfo. The SUIT builder puts it in
// the COSE kid header; the Manifest status reports it.
func KeyID(pub crypto.PublicKey) ([]byte, error) {
	h := sha256.New()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		point, err := X962PublicKey(k)
		if err != nil {
			return nil, err
		}
		h.Write(spkiPrefixP256)
		h.Write(point)
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrUnsupportedKey, len(k))
		}
		h.Write(spkiPrefixEd25519)
		h.Write(k)
	default:
		return nil, fmt.Errorf("%w: %s; use an EC P-256 or Ed25519 key", ErrUnsupportedKey, keyTypeName(pub))
	}
	return h.Sum(nil), nil
}

// CheckCertificateKey reports (ErrKeyMismatch) whether cert certifies the public half of key.
func CheckCertificateKey(cert *x509.Certificate, key crypto.Signer) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

// X962PublicKey returns the 65-byte uncompressed point of a P-256 public key, the form Pelion device
// firmware compiles in as arm_uc_update_public_key.
func X962PublicKey(pub crypto.PublicKey) ([]byte, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %s; X9.62 needs an EC P-256 key", ErrUnsupportedKey, keyTypeName(pub))
	}
	return k.Bytes()
}
