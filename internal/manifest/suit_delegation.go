package manifest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Delegation chains (envelope key 1): trust-domains -00…-05 describe them, and the WG repository's CDDL
// still defines `suit-delegation = 1` and SUIT_Delegation = [+ [+ bstr .cbor CWT]] although the text of
// later revisions no longer does; libcsuit verifies them. Each inner list is a chain: its first CWT
// (RFC 8392, a COSE_Sign1 with attached claims) is signed by a trust anchor, each next one by the key
// the previous one confirms in its cnf claim (RFC 8747), and the key the last one confirms may sign the
// manifest. fleetwave accepts what libcsuit and the trust-domains examples emit: COSE_Sign1_Tagged CWTs
// with ES256, ESP256 or EdDSA, cnf {1: COSE_Key} with an EC2 P-256 or OKP Ed25519 key.
const (
	suitMaxChains     = 4
	suitMaxChainLinks = 4

	cwtIssuer       = 1
	cwtSubject      = 2
	cwtExpires      = 4
	cwtNotBefore    = 5
	cwtConfirmation = 8
	cnfCOSEKey      = 1

	coseKeyType   = 1
	coseKeyCurve  = -1
	coseKeyX      = -2
	coseKeyY      = -3
	coseKeyTypeOK = 1 // OKP
	coseKeyTypeEC = 2 // EC2
	coseCurveP256 = 1
	coseCurveEd   = 6
)

// SUITDelegationLink is one CWT of a delegation chain.
type SUITDelegationLink struct {
	Algorithm string // of the CWT's signature: ES256, ESP256 or EdDSA
	SignerKID []byte // the CWT's kid header, when present
	// KeyID is the key id (see KeyID) of the key the CWT delegates to.
	KeyID     []byte
	Issuer    string
	Subject   string
	NotBefore uint64 // seconds since 1970; 0 when absent
	Expires   uint64
	key       crypto.PublicKey
	msg       *cose.Sign1Message
}

// decodeDelegation decodes the envelope's delegation chains without checking a signature.
func (env *suitEnvelope) decodeDelegation() ([][]SUITDelegationLink, error) {
	if env.wire.Delegation == nil {
		return nil, nil
	}
	var chains [][]cborBytes
	if err := decodeBstrCBOR(env.wire.Delegation, &chains, "delegation"); err != nil {
		return nil, err
	}
	if len(chains) == 0 || len(chains) > suitMaxChains {
		return nil, reject(FailureDelegationInvalid, "delegation: %d chains, want 1..%d", len(chains), suitMaxChains)
	}
	out := make([][]SUITDelegationLink, len(chains))
	for i, chain := range chains {
		if len(chain) == 0 || len(chain) > suitMaxChainLinks {
			return nil, reject(FailureDelegationInvalid, "delegation chain %d: %d CWTs, want 1..%d", i, len(chain), suitMaxChainLinks)
		}
		for j, cwt := range chain {
			link, err := decodeCWT(cwt)
			if err != nil {
				return nil, reject(FailureDelegationInvalid, "delegation chain %d, CWT %d: %v", i, j, err)
			}
			out[i] = append(out[i], *link)
		}
	}
	return out, nil
}

// decodeCWT decodes a delegation CWT: a tagged COSE_Sign1 whose attached payload holds the claims.
func decodeCWT(data []byte) (*SUITDelegationLink, error) {
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(data); err != nil {
		return nil, err
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return nil, err
	}
	name, ok := coseAlgorithmName(alg)
	if !ok {
		return nil, fmt.Errorf("unsupported signature algorithm %d", int64(alg))
	}
	link := &SUITDelegationLink{Algorithm: name, msg: &msg}
	if kid, ok := msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte); ok {
		link.SignerKID = kid
	}
	if err := link.decodeClaims(msg.Payload); err != nil {
		return nil, err
	}
	return link, nil
}

func (l *SUITDelegationLink) decodeClaims(payload []byte) error {
	var claims struct {
		Issuer       string          `cbor:"1,keyasint,omitempty"`
		Subject      string          `cbor:"2,keyasint,omitempty"`
		Expires      uint64          `cbor:"4,keyasint,omitempty"`
		NotBefore    uint64          `cbor:"5,keyasint,omitempty"`
		Confirmation cbor.RawMessage `cbor:"8,keyasint"`
	}
	if payload == nil {
		return errors.New("the CWT has no claims")
	}
	if err := suitDecMode.Unmarshal(payload, &claims); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	var cnf map[int64]cbor.RawMessage
	if err := suitDecMode.Unmarshal(claims.Confirmation, &cnf); err != nil || cnf[cnfCOSEKey] == nil {
		return errors.New("the CWT has no cnf claim with a COSE_Key")
	}
	key, err := decodeCOSEKey(cnf[cnfCOSEKey])
	if err != nil {
		return err
	}
	if l.KeyID, err = KeyID(key); err != nil {
		return err
	}
	l.key, l.Issuer, l.Subject, l.Expires, l.NotBefore = key, claims.Issuer, claims.Subject, claims.Expires, claims.NotBefore
	return nil
}

// decodeCOSEKey reads an EC2 P-256 or OKP Ed25519 public COSE_Key.
func decodeCOSEKey(raw cbor.RawMessage) (crypto.PublicKey, error) {
	var k struct {
		Type  int64  `cbor:"1,keyasint"`
		Curve int64  `cbor:"-1,keyasint"`
		X     []byte `cbor:"-2,keyasint"`
		Y     []byte `cbor:"-3,keyasint,omitempty"`
	}
	if err := suitDecMode.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("COSE_Key: %w", err)
	}
	switch {
	case k.Type == coseKeyTypeEC && k.Curve == coseCurveP256 && len(k.X) == 32 && len(k.Y) == 32:
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, k.X...), k.Y...))
	case k.Type == coseKeyTypeOK && k.Curve == coseCurveEd && len(k.X) == ed25519.PublicKeySize && k.Y == nil:
		return ed25519.PublicKey(k.X), nil
	}
	return nil, fmt.Errorf("COSE_Key type %d curve %d: want an EC2 P-256 or OKP Ed25519 public key", k.Type, k.Curve)
}

// appendCOSEKey appends the public COSE_Key of pub, keys in deterministic order (1, -1, -2, -3).
func appendCOSEKey(dst []byte, pub crypto.PublicKey) ([]byte, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		point, err := X962PublicKey(k)
		if err != nil {
			return nil, err
		}
		dst = append(dst, 0xa4, 0x01, coseKeyTypeEC, 0x20, coseCurveP256, 0x21)
		dst = appendBstr(dst, point[1:33])
		dst = append(dst, 0x22)
		return appendBstr(dst, point[33:]), nil
	case ed25519.PublicKey:
		dst = append(dst, 0xa3, 0x01, coseKeyTypeOK, 0x20, coseCurveEd, 0x21)
		return appendBstr(dst, []byte(k)), nil
	}
	return nil, fmt.Errorf("%w: %s cannot be delegated to", ErrUnsupportedKey, keyTypeName(pub))
}

// verifyDelegation checks every chain link by link from the trusted keys and returns the keys the
// chains delegate to, with the trust anchor each chain starts at. A chain that does not hold is a
// DelegationInvalid rejection, as a device that processes delegation aborts on it.
func verifyDelegation(chains [][]SUITDelegationLink, trusted []crypto.PublicKey) (delegates, anchors []crypto.PublicKey, err error) {
	for i, chain := range chains {
		signers := trusted
		var anchor crypto.PublicKey
		for j := range chain {
			link := &chain[j]
			by := link.verifiedBy(signers)
			if by == nil && j == 0 {
				return nil, nil, reject(FailureDelegationInvalid, "delegation chain %d: its first CWT is not signed by a trusted key", i)
			}
			if by == nil {
				return nil, nil, reject(FailureDelegationInvalid, "delegation chain %d: CWT %d is not signed by the key CWT %d delegates to", i, j, j-1)
			}
			if j == 0 {
				anchor = by
			}
			signers = []crypto.PublicKey{link.key}
		}
		delegates = append(delegates, signers[0])
		anchors = append(anchors, anchor)
	}
	return delegates, anchors, nil
}

// verifiedBy returns the key among keys whose signature the CWT carries, or nil.
func (l *SUITDelegationLink) verifiedBy(keys []crypto.PublicKey) crypto.PublicKey {
	for _, pub := range keys {
		if checkKeyForAlgorithm(l.Algorithm, pub) != nil {
			continue
		}
		if l.msg.Verify(nil, coseVerifier{alg: coseAlgorithms[l.Algorithm], pub: pub}) == nil {
			return pub
		}
	}
	return nil
}

// delegationConditions turns the chains' validity periods into conditions the device decides.
func delegationConditions(chains [][]SUITDelegationLink) []SUITCondition {
	var out []SUITCondition
	for _, chain := range chains {
		for _, l := range chain {
			if l.Expires != 0 {
				out = append(out, SUITCondition{Kind: ConditionDelegationExpiry, Limit: l.Expires})
			}
			if l.NotBefore != 0 {
				out = append(out, SUITCondition{Kind: ConditionDelegationStart, Limit: l.NotBefore})
			}
		}
	}
	return out
}

// Delegation is a SUIT delegation element (SUIT_Delegation, the content of envelope key 1) with one
// chain: a CWT signed by the trust anchor that delegates to a key, optionally extended by more CWTs.
type Delegation []byte

// DelegationClaims are the claims fleetwave puts in a delegation CWT besides the key.
type DelegationClaims struct {
	Issuer, Subject string
	Expires         time.Time // zero: no exp claim
}

// NewDelegation signs a CWT with the issuer's key (a trust anchor's, or the last delegate's when
// extending parent) that delegates manifest signing to delegate, and returns parent's chain with it
// appended (a new chain when parent is nil). algorithm is ES256, ESP256 or EdDSA, matching the issuer.
func NewDelegation(parent Delegation, issuer crypto.Signer, algorithm string, delegate crypto.PublicKey, claims DelegationClaims) (Delegation, error) {
	var chain []cborBytes
	if parent != nil {
		links, err := parent.links()
		if err != nil {
			return nil, err
		}
		if !sameKey(links[len(links)-1].key, issuer.Public()) {
			return nil, fmt.Errorf("%w: the issuer is not the key the chain delegates to", ErrDelegationMismatch)
		}
		var chains [][]cborBytes
		if err := suitDecMode.Unmarshal(parent, &chains); err != nil {
			return nil, err
		}
		chain = chains[0]
	}
	cwt, err := signCWT(issuer, algorithm, delegate, claims)
	if err != nil {
		return nil, err
	}
	chain = append(chain, cwt)
	out := appendCBORHead(nil, cborMajorArray, 1)
	out = appendCBORHead(out, cborMajorArray, uint64(len(chain)))
	for _, c := range chain {
		out = appendBstr(out, []byte(c))
	}
	return out, nil
}

func signCWT(issuer crypto.Signer, algorithm string, delegate crypto.PublicKey, claims DelegationClaims) ([]byte, error) {
	signer, err := newCOSESigner(algorithm, issuer)
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(issuer.Public())
	if err != nil {
		return nil, err
	}
	payload, err := claims.encode(delegate)
	if err != nil {
		return nil, err
	}
	return coseSign1(signer, kid, payload, true)
}

// encode writes the claims map {1: iss, 2: sub, 4: exp, 8: {1: COSE_Key}}, absent claims left out.
func (c DelegationClaims) encode(delegate crypto.PublicKey) ([]byte, error) {
	n := uint64(1)
	for _, present := range []bool{c.Issuer != "", c.Subject != "", !c.Expires.IsZero()} {
		if present {
			n++
		}
	}
	out := appendCBORHead(nil, cborMajorMap, n)
	if c.Issuer != "" {
		out = appendTstr(append(out, cwtIssuer), c.Issuer)
	}
	if c.Subject != "" {
		out = appendTstr(append(out, cwtSubject), c.Subject)
	}
	if !c.Expires.IsZero() {
		out = appendCBORHead(append(out, cwtExpires), cborMajorUint, uint64(max(c.Expires.Unix(), 0)))
	}
	out = append(out, cwtConfirmation, 0xa1, cnfCOSEKey)
	return appendCOSEKey(out, delegate)
}

// links decodes the (single) chain of a Delegation.
func (d Delegation) links() ([]SUITDelegationLink, error) {
	env := &suitEnvelope{wire: suitEnvelopeWire{Delegation: bstr(d)}}
	chains, err := env.decodeDelegation()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDelegationMismatch, err)
	}
	if len(chains) != 1 {
		return nil, fmt.Errorf("%w: %d chains, want one", ErrDelegationMismatch, len(chains))
	}
	return chains[0], nil
}

// CheckDelegation checks that the chain holds together link by link and ends at pub, the key that signs
// the manifests: what Build needs before it embeds the chain. Whether the first link is signed by a
// key devices trust only they can tell.
func (d Delegation) CheckDelegation(pub crypto.PublicKey) error {
	links, err := d.links()
	if err != nil {
		return err
	}
	for j := 1; j < len(links); j++ {
		if links[j].verifiedBy([]crypto.PublicKey{links[j-1].key}) == nil {
			return fmt.Errorf("%w: CWT %d is not signed by the key CWT %d delegates to", ErrDelegationMismatch, j, j-1)
		}
	}
	if !sameKey(links[len(links)-1].key, pub) {
		return ErrDelegationMismatch
	}
	return nil
}

func sameKey(a, b crypto.PublicKey) bool {
	ka, errA := KeyID(a)
	kb, errB := KeyID(b)
	return errA == nil && errB == nil && bytes.Equal(ka, kb)
}
