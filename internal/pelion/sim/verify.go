package sim

import (
	"crypto"
	"crypto/sha256"
	"sync"

	"github.com/fleetwave/fleetwave/internal/manifest"
)

// trustSet is the update keys a group of devices trusts, with its verification results memoised:
// a signature is checked once per manifest, while each device still applies its own vendor, class,
// component and version checks to the verified summary.
type trustSet struct {
	keys []crypto.PublicKey

	mu       sync.Mutex
	verified map[[32]byte]*memo
	// perDevice settles manifests that fail verification, where which failure a device reports can
	// depend on the device (a SUIT device checks the version before the signature).
	perDevice map[deviceCheckKey]*memo
}

type deviceCheckKey struct {
	manifest [32]byte
	device   manifest.Device
}

type memo struct {
	once    sync.Once
	summary *manifest.Summary
	err     error
}

func newTrustSet(keys []crypto.PublicKey) *trustSet {
	return &trustSet{keys: keys, verified: map[[32]byte]*memo{}, perDevice: map[deviceCheckKey]*memo{}}
}

// verifyForDevice returns what manifest.VerifyForDevice returns for this device and manifest.
func (t *trustSet) verifyForDevice(data []byte, digest [32]byte, d manifest.Device) (*manifest.Summary, error) {
	m := memoize(&t.mu, t.verified, digest, func() (*manifest.Summary, error) { return manifest.Verify(data, t.keys) })
	if m.err == nil {
		return m.summary, m.summary.CheckDevice(d)
	}
	m = memoize(&t.mu, t.perDevice, deviceCheckKey{digest, d}, func() (*manifest.Summary, error) {
		return manifest.VerifyForDevice(data, t.keys, d)
	})
	return m.summary, m.err
}

// memoize returns the memo for key, computing it on first use; concurrent callers wait for the first.
func memoize[K comparable](mu *sync.Mutex, table map[K]*memo, key K, compute func() (*manifest.Summary, error)) *memo {
	mu.Lock()
	m := table[key]
	if m == nil {
		m = &memo{}
		table[key] = m
	}
	mu.Unlock()
	m.once.Do(func() { m.summary, m.err = compute() })
	return m
}

func manifestDigest(data []byte) [32]byte { return sha256.Sum256(data) }
