package pelion_test

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// BenchmarkWalkDevices100k walks a 100,000-device directory as a campaign's plan does: every page of
// 1000 devices of the fleet's vendor and class, through the client and the simulator's HTTP API (in
// one process: the profile shows both sides).
func BenchmarkWalkDevices100k(b *testing.B) {
	e := newEnv(b, sim.Config{Devices: 100_000})
	fleet := pelion.Filter{}.Eq("vendor_id", hex.EncodeToString(e.vendor[:])).Eq("device_class", hex.EncodeToString(e.class[:]))
	b.ResetTimer()
	for range b.N {
		n := 0
		for _, err := range pelion.All(context.Background(), pelion.ListOptions{Limit: pelion.MaxPageSize, Filter: fleet}, e.client.ListDevices) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100_000 {
			b.Fatalf("walked %d devices", n)
		}
	}
}
