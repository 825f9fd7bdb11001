package manifest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/veraison/go-cose"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Signature algorithms, by their COSE names. A Pelion v3 signature is always ES256 (ECDSA P-256 with
// SHA-256, raw r||s); SUIT manifests may use any of the three.
const (
	AlgorithmES256  = "ES256"  // COSE -7
	AlgorithmESP256 = "ESP256" // COSE -9 (RFC 9864): the same signature as ES256, fully specified
	AlgorithmEdDSA  = "EdDSA"  // COSE -8, Ed25519 keys
)

// coseAlgorithmESP256 is missing from go-cose v1.3.0; a Signer/Verifier reporting -9 is all it takes.
const coseAlgorithmESP256 cose.Algorithm = -9

var coseAlgorithms = map[string]cose.Algorithm{
	AlgorithmES256:  cose.AlgorithmES256,
	AlgorithmESP256: coseAlgorithmESP256,
	AlgorithmEdDSA:  cose.AlgorithmEdDSA,
}

func coseAlgorithmName(alg cose.Algorithm) (string, bool) {
	for name, a := range coseAlgorithms {
		if a == alg {
			return name, true
		}
	}
	return "", false
}

// coseSigner signs COSE Sig_structures with an ECDSA P-256 or Ed25519 key.
type coseSigner struct {
	alg cose.Algorithm
	key crypto.Signer
}

func newCOSESigner(algorithm string, key crypto.Signer) (*coseSigner, error) {
	alg, ok := coseAlgorithms[algorithm]
	if !ok {
		return nil, invalidSpec("signature algorithm %q: want ES256, ESP256 or EdDSA", algorithm)
	}
	if err := checkKeyForAlgorithm(algorithm, key.Public()); err != nil {
		return nil, err
	}
	return &coseSigner{alg: alg, key: key}, nil
}

func checkKeyForAlgorithm(algorithm string, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() && algorithm != AlgorithmEdDSA {
			return nil
		}
	case ed25519.PublicKey:
		if algorithm == AlgorithmEdDSA {
			return nil
		}
	}
	return fmt.Errorf("%w: %s key cannot sign %s", ErrUnsupportedKey, keyTypeName(pub), algorithm)
}

func (s *coseSigner) Algorithm() cose.Algorithm { return s.alg }

// Sign signs a Sig_structure. The rand argument is unused: see signECDSA.
func (s *coseSigner) Sign(_ io.Reader, content []byte) ([]byte, error) {
	if s.alg == cose.AlgorithmEdDSA {
		return s.key.Sign(nil, content, crypto.Hash(0))
	}
	digest := sha256.Sum256(content)
	return signECDSA(s.key, digest[:])
}

// signECDSA signs a SHA-256 digest and returns the raw 64-byte r||s form both formats use.
//
// An in-memory key signs deterministically (RFC 6979, as RFC 9053 recommends), so building the same
// manifest twice gives the same bytes; other signers (hardware, KMS) get crypto/rand.
func signECDSA(key crypto.Signer, digest []byte) ([]byte, error) {
	random := rand.Reader
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		random = nil
	}
	der, err := key.Sign(random, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("ECDSA signing: %w", err)
	}
	return ecdsaDERToRaw(der)
}

func ecdsaDERToRaw(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var r, s []byte
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("ECDSA signer returned a malformed signature")
	}
	raw := make([]byte, 64)
	if !putScalar(raw[:32], r) || !putScalar(raw[32:], s) {
		return nil, errors.New("ECDSA signer returned a signature that is not P-256")
	}
	return raw, nil
}

// putScalar writes a DER INTEGER's bytes (possibly with a leading zero) right-aligned into dst.
func putScalar(dst, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}

// Signing assembles the COSE_Sign1 bytes directly: the layout is fixed (a protected header of alg and
// kid, an empty unprotected header, a detached payload), and go-cose's generic header marshalling,
// done twice per message, costs more than the 10% of a signature the build may add. Verification
// goes through go-cose, and the tests check both produce the same bytes.

// coseProtectedHeader encodes the protected header {1: alg, 4: kid}, keys in deterministic order.
func coseProtectedHeader(alg cose.Algorithm, kid []byte) []byte {
	return appendCOSEProtectedHeader(make([]byte, 0, 8+len(kid)), alg, kid)
}

func appendCOSEProtectedHeader(dst []byte, alg cose.Algorithm, kid []byte) []byte {
	dst = append(dst, 0xa2, 0x01)
	dst = appendCBORInt(dst, int64(alg))
	dst = append(dst, 0x04)
	return appendBstr(dst, kid)
}

// coseSign1 signs the payload and returns the encoded COSE_Sign1_Tagged 18([protected, {}, payload,
// signature]), protected being {1: alg, 4: kid}, over the Sig_structure ["Signature1", protected, h”,
// payload]. An authentication block detaches the payload (nil in its place); a CWT carries it.
func coseSign1(signer *coseSigner, kid, payload []byte, attached bool) ([]byte, error) {
	const context = "Signature1"
	// The protected header and the Sig_structure share one buffer.
	buf := make([]byte, 0, 2*len(kid)+len(payload)+48)
	buf = appendCOSEProtectedHeader(buf, signer.alg, kid)
	protected := buf
	tbs := append(buf, 0x84, 0x60|byte(len(context)))
	tbs = append(tbs, context...)
	tbs = appendBstr(tbs, protected)
	tbs = append(tbs, 0x40) // external_aad: empty
	tbs = appendBstr(tbs, payload)
	sig, err := signer.Sign(nil, tbs[len(protected):])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 16+len(protected)+len(sig)+len(payload))
	out = append(out, 0xd2, 0x84) // tag 18, array(4)
	out = appendBstr(out, protected)
	out = append(out, 0xa0) // unprotected {}
	if attached {
		out = appendBstr(out, payload)
	} else {
		out = append(out, 0xf6) // payload nil
	}
	return appendBstr(out, sig), nil
}

// verifyECDSARaw checks a raw r||s P-256 signature over a SHA-256 digest.
func verifyECDSARaw(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest, r, s)
}

// coseVerifier verifies COSE signatures for one algorithm and one public key.
type coseVerifier struct {
	alg cose.Algorithm
	pub crypto.PublicKey
}

func (v coseVerifier) Algorithm() cose.Algorithm { return v.alg }

func (v coseVerifier) Verify(content, sig []byte) error {
	switch k := v.pub.(type) {
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(content)
		if verifyECDSARaw(k, digest[:], sig) {
			return nil
		}
	case ed25519.PublicKey:
		if len(sig) == ed25519.SignatureSize && ed25519.Verify(k, content, sig) {
			return nil
		}
	}
	return cose.ErrVerification
}
