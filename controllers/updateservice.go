package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// UpdateServiceProvider hands the reconcilers a client for the Update Service. Tests provide one
// bound to the simulator.
type UpdateServiceProvider interface {
	UpdateService(ctx context.Context) (pelion.UpdateService, error)
}

// APIKeyConnector builds Update Service clients with the API key held in a Secret. It re-reads the
// Secret at most once per RefreshInterval, so a rotated key is picked up without a restart, and keeps
// one client per key.
type APIKeyConnector struct {
	// Reader reads the Secret. Use an uncached reader: the operator may read this one Secret and no
	// other in its namespace (the namespaced install grants get on it by name only), and caching
	// would mean listing and watching them all.
	Reader          client.Reader
	Secret          types.NamespacedName
	SecretKey       string
	URL             string
	Options         []pelion.Option
	RefreshInterval time.Duration
	Clock           clock.PassiveClock

	mu        sync.Mutex
	keyDigest [sha256.Size]byte
	client    *pelion.Client
	fetchedAt time.Time
}

// UpdateService returns a client for the current API key. Failing to read the key is transient: the
// Secret may yet be created, and the error names it without revealing anything of its contents.
func (c *APIKeyConnector) UpdateService(ctx context.Context) (pelion.UpdateService, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Clock.Now()
	if c.client != nil && now.Sub(c.fetchedAt) < c.RefreshInterval {
		return c.client, nil
	}
	key, err := c.readKey(ctx)
	if err != nil {
		return nil, transient(v1.ReasonUpdateServiceUnavailable, err)
	}
	if digest := sha256.Sum256([]byte(key)); c.client == nil || digest != c.keyDigest {
		cl, err := pelion.New(c.URL, key, c.Options...)
		if err != nil {
			return nil, transient(v1.ReasonUpdateServiceUnavailable, fmt.Errorf("update service client: %w", err))
		}
		c.client, c.keyDigest = cl, digest
	}
	c.fetchedAt = now
	return c.client, nil
}

func (c *APIKeyConnector) readKey(ctx context.Context) (string, error) {
	var secret corev1.Secret
	if err := c.Reader.Get(ctx, c.Secret, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("the API key Secret %s does not exist", c.Secret)
		}
		return "", fmt.Errorf("reading the API key Secret %s: %w", c.Secret, err)
	}
	key := strings.TrimSpace(string(secret.Data[c.SecretKey]))
	if key == "" {
		return "", errors.New("the API key Secret " + c.Secret.String() + " has no " + c.SecretKey + " entry")
	}
	return key, nil
}

// serviceError sorts an Update Service failure: a request the service refused as invalid is stalled
// (sending it again cannot help), anything else is transient. A refused API key is transient too: the
// key in the Secret may be replaced at any time.
func serviceError(what string, err error) error {
	if pelion.IsTerminal(err) && !pelion.IsNotFound(err) && !pelion.IsUnauthorized(err) {
		return stalled(v1.ReasonUpdateServiceRejected, "%s: %v", what, err)
	}
	return transient(v1.ReasonUpdateServiceUnavailable, fmt.Errorf("%s: %w", what, err))
}

// RemoteName is the deterministic name of an object's Update Service counterpart, optionally
// qualified (a manifest's content hash). It carries the UID, so a re-created object never adopts what
// its predecessor left, and stays within the service's 128-character limit.
func RemoteName(obj client.Object, qualifier string) string {
	const max = 128
	suffix := "@" + string(obj.GetUID()) + qualifier
	prefix := obj.GetNamespace() + "/" + obj.GetName()
	if len(prefix)+len(suffix) > max {
		prefix = prefix[:max-len(suffix)]
	}
	return prefix + suffix
}

// shortHash is a stable, short fingerprint of s for names and status fields.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
