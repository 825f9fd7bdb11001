package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

func TestAPIKeyConnectorFollowsTheSecret(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	conn := &controllers.APIKeyConnector{
		Reader:          env.Client,
		Secret:          types.NamespacedName{Namespace: ns, Name: "fleetwave-api-key"},
		SecretKey:       "api-key",
		URL:             service.url,
		RefreshInterval: time.Minute,
		Clock:           clock,
	}

	// No Secret yet: a transient error naming the Secret.
	if _, err := conn.UpdateService(ctx); err == nil || !strings.Contains(err.Error(), ns+"/fleetwave-api-key") {
		t.Fatalf("without the Secret: got %v, want an error naming it", err)
	}

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fleetwave-api-key"},
		Data:       map[string][]byte{"api-key": []byte(testAPIKey + "\n")},
	}
	create(t, secret)
	svc, err := conn.UpdateService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ListDevices(ctx, pelion.ListOptions{Limit: 2}); err != nil {
		t.Fatalf("the key from the Secret was refused: %v", err)
	}

	// A rotated key is picked up once the refresh interval has passed, not before.
	secret.Data["api-key"] = []byte("ak_rotated_but_wrong")
	if err := env.Client.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if again, _ := conn.UpdateService(ctx); again != svc {
		t.Error("the Secret was read again before the refresh interval passed")
	}
	clock.SetTime(clock.Now().Add(2 * time.Minute))
	rotated, err := conn.UpdateService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rotated.ListDevices(ctx, pelion.ListOptions{Limit: 2})
	if !pelion.IsUnauthorized(err) {
		t.Fatalf("with the rotated (wrong) key: got %v, want 401", err)
	}
	if strings.Contains(err.Error(), "ak_rotated_but_wrong") || strings.Contains(err.Error(), testAPIKey) {
		t.Errorf("an error reveals the API key: %v", err)
	}
}
