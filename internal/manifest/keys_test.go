package manifest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/testvectors"
)

func pemBlock(typ string, der []byte, headers map[string]string) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der})
}

func TestParsePrivateKey(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, _ := x509.MarshalECPrivateKey(p256)
	sec1P384, _ := x509.MarshalECPrivateKey(p384)
	ecParams := pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, nil)

	tests := []struct {
		name    string
		pem     []byte
		want    crypto.PublicKey
		wantErr error
		errHas  string
	}{
		{name: "PKCS#8 P-256", pem: pemBlock("PRIVATE KEY", pkcs8(p256), nil), want: p256.Public()},
		{name: "SEC1 P-256", pem: pemBlock("EC PRIVATE KEY", sec1, nil), want: p256.Public()},
		{name: "openssl ecparam -genkey output", pem: append(ecParams, pemBlock("EC PRIVATE KEY", sec1, nil)...), want: p256.Public()},
		{name: "PKCS#8 Ed25519", pem: pemBlock("PRIVATE KEY", pkcs8(ed), nil), want: ed.Public()},
		{name: "PKCS#8 P-384", pem: pemBlock("PRIVATE KEY", pkcs8(p384), nil), wantErr: ErrUnsupportedKey, errHas: "P-384"},
		{name: "SEC1 P-384", pem: pemBlock("EC PRIVATE KEY", sec1P384, nil), wantErr: ErrUnsupportedKey, errHas: "P-384"},
		{name: "PKCS#8 RSA", pem: pemBlock("PRIVATE KEY", pkcs8(rsaKey), nil), wantErr: ErrUnsupportedKey, errHas: "RSA"},
		{name: "PKCS#1 RSA", pem: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil), wantErr: ErrUnsupportedKey, errHas: "RSA"},
		{name: "PKCS#8 encrypted", pem: pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}, nil), wantErr: ErrEncryptedKey},
		{name: "legacy encrypted PEM", pem: pemBlock("EC PRIVATE KEY", sec1, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"}), wantErr: ErrEncryptedKey},
		{name: "certificate only", pem: pemBlock("CERTIFICATE", []byte{0x30, 0x00}, nil), wantErr: ErrNoKey},
		{name: "not PEM", pem: []byte("hello"), wantErr: ErrNoKey},
		{name: "damaged key", pem: pemBlock("PRIVATE KEY", pkcs8(p256)[:40], nil), errHas: "parsing PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParsePrivateKey(tt.pem)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("ParsePrivateKey: %v", err)
				}
				if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.want) {
					t.Fatal("parsed key has a different public key")
				}
				return
			}
			if err == nil {
				t.Fatal("ParsePrivateKey succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not mention %q", err, tt.errHas)
			}
			assertNoKeyMaterial(t, err.Error(), tt.pem)
		})
	}
}

// assertNoKeyMaterial fails when msg contains any 8-character run of the PEM body or its bytes in hex.
func assertNoKeyMaterial(t *testing.T, msg string, pemBytes []byte) {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return
	}
	body := base64.StdEncoding.EncodeToString(block.Bytes)
	hexBody := hexString(block.Bytes)
	for i := 0; i+8 <= len(body); i += 4 {
		if strings.Contains(msg, body[i:i+8]) {
			t.Fatalf("error message contains key material: %q", msg)
		}
	}
	for i := 0; i+16 <= len(hexBody); i += 8 {
		if strings.Contains(msg, hexBody[i:i+16]) {
			t.Fatalf("error message contains key material: %q", msg)
		}
	}
}

func selfSignedCert(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParsePublicKey(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	spki := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	point, _ := p256.PublicKey.Bytes()
	certDER := selfSignedCert(t, p256)
	tests := []struct {
		name    string
		data    []byte
		want    crypto.PublicKey
		wantErr error
	}{
		{name: "PEM SPKI P-256", data: pemBlock("PUBLIC KEY", spki(p256.Public()), nil), want: p256.Public()},
		{name: "PEM SPKI Ed25519", data: pemBlock("PUBLIC KEY", spki(ed.Public()), nil), want: ed.Public()},
		{name: "DER SPKI", data: spki(p256.Public()), want: p256.Public()},
		{name: "PEM certificate", data: pemBlock("CERTIFICATE", certDER, nil), want: p256.Public()},
		{name: "DER certificate", data: certDER, want: p256.Public()},
		{name: "X9.62 point", data: point, want: p256.Public()},
		{name: "P-384", data: pemBlock("PUBLIC KEY", spki(p384.Public()), nil), wantErr: ErrUnsupportedKey},
		{name: "point off the curve", data: append([]byte{4}, make([]byte, 64)...), wantErr: nil},
		{name: "private key", data: pemBlock("PRIVATE KEY", []byte{0x30, 0x00}, nil), wantErr: ErrNoKey},
		{name: "garbage", data: []byte("not a key at all"), wantErr: ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := ParsePublicKey(tt.data)
			if tt.want == nil {
				if err == nil {
					t.Fatal("ParsePublicKey succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.want) {
				t.Fatal("wrong public key")
			}
		})
	}
}

func TestParsePublicKeyVectors(t *testing.T) {
	raw := testvectors.Read(t, "pelion-v3", "test.pub.key.bin")
	pub, err := ParsePublicKey(raw)
	if err != nil {
		t.Fatalf("X9.62 vector key: %v", err)
	}
	priv, err := ParsePrivateKey(testvectors.Read(t, "pelion-v3", "test.priv.key.pem"))
	if err != nil {
		t.Fatalf("vector private key: %v", err)
	}
	if !priv.Public().(*ecdsa.PublicKey).Equal(pub) {
		t.Error("the vector's X9.62 public key is not the public half of its private key")
	}
	if x962, err := X962PublicKey(pub); err != nil || !bytes.Equal(x962, raw) {
		t.Errorf("X962PublicKey = %x, %v; want the vector's %x", x962, err, raw)
	}
	suitPub, err := ParsePublicKey(testvectors.Read(t, "suit", "example-public-key.pem"))
	if err != nil {
		t.Fatalf("SUIT example public key: %v", err)
	}
	suitPriv, err := ParsePrivateKey(testvectors.Read(t, "suit", "example-private-key.pem"))
	if err != nil {
		t.Fatalf("SUIT example private key: %v", err)
	}
	if !suitPriv.Public().(*ecdsa.PublicKey).Equal(suitPub) {
		t.Error("the SUIT example key pair does not match")
	}
}

func TestKeyIDIsSHA256OfSPKI(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, pub := range []crypto.PublicKey{p256.Public(), ed.Public()} {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(der)
		got, err := KeyID(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[:]) {
			t.Errorf("KeyID(%T) = %x, want SHA-256 of SPKI %x", pub, got, want)
		}
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := KeyID(p384.Public()); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("KeyID(P-384) error = %v, want ErrUnsupportedKey", err)
	}
}

func TestCheckCertificateKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := x509.ParseCertificate(selfSignedCert(t, key))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCertificateKey(cert, key); err != nil {
		t.Errorf("matching certificate: %v", err)
	}
	if err := CheckCertificateKey(cert, other); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("other key: error %v, want ErrKeyMismatch", err)
	}
}
