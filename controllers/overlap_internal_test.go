package controllers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// listCounter counts the campaign listings made through the real client.
type listCounter struct {
	pelion.UpdateService
	lists atomic.Int32
}

func (c *listCounter) ListCampaigns(ctx context.Context, opts pelion.ListOptions) (*pelion.Page[pelion.Campaign], error) {
	c.lists.Add(1)
	return c.UpdateService.ListCampaigns(ctx, opts)
}

// draftCampaign creates, on the simulator, a draft remote campaign pinning ids.
func draftCampaign(t *testing.T, svc pelion.UpdateService, name string, ids ...string) *pelion.Campaign {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vendor, _ := manifest.VendorIDFromDomain("example.com")
	class, _ := manifest.ClassIDFromModel(vendor, "widget")
	digest := sha256.Sum256([]byte(name))
	data, err := manifest.Build(manifest.Spec{Format: manifest.FormatPelionV3, VendorID: vendor, ClassID: class, Version: "1.0.1",
		PayloadDigest: digest[:], PayloadSize: 1, PayloadURI: "http://127.0.0.1/fw.bin"}, key)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := svc.CreateFirmwareManifest(context.Background(), pelion.ManifestUpload{Name: "mf-" + name, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.CreateCampaign(context.Background(), pelion.CampaignCreate{Name: name, RootManifestID: mf.ID,
		DeviceFilter: pelion.Filter{}.In("id", ids...).String()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPinBoardListsOncePerTTLAndKnowsWhatTheOperatorCreated(t *testing.T) {
	s, err := sim.New(sim.Config{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	client, err := pelion.New(srv.URL, "k")
	if err != nil {
		t.Fatal(err)
	}
	svc := &listCounter{UpdateService: client}
	const d1, d2, d3 = "0000000000000000000000000000000a", "0000000000000000000000000000000b", "0000000000000000000000000000000c"
	other := draftCampaign(t, svc, "other@uid-b/w0.a0.c0", d1, d2)

	var board pinBoard
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lookup := func(at time.Time, ours string) func(string) bool {
		t.Helper()
		foreign, err := board.foreign(context.Background(), svc, at, ours)
		if err != nil {
			t.Fatal(err)
		}
		return foreign
	}
	mine := lookup(t0, "mine@uid-a/")
	if !mine(d1) || !mine(d2) || mine(d3) {
		t.Errorf("foreign pins d1 %v, d2 %v, d3 %v; want the other campaign's d1 and d2 only", mine(d1), mine(d2), mine(d3))
	}

	// A remote campaign the operator creates counts at once, for every campaign but its own.
	board.add("mine@uid-a/w0.a0.c0", []string{d3})
	if lookup(t0.Add(time.Second), "mine@uid-a/")(d3) {
		t.Error("a campaign's own remote campaign counts as foreign")
	}
	if !lookup(t0.Add(time.Second), "other@uid-b/")(d3) {
		t.Error("another campaign does not see the pins the operator just created")
	}
	// One listing found only the other campaign's remote campaigns, kept without their ids; asked by
	// another campaign, the board listed once more to keep them. Then none within the TTL.
	if n := svc.lists.Load(); n != 2 {
		t.Errorf("%d listings within the TTL, want 2", n)
	}

	// The other campaign goes: its devices are free once the board is listed again.
	if err := svc.DeleteCampaign(context.Background(), other.ID); err != nil {
		t.Fatal(err)
	}
	if !lookup(t0.Add(2*time.Second), "mine@uid-a/")(d1) {
		t.Error("the board listed again before its TTL")
	}
	if lookup(t0.Add(pinBoardTTL+time.Second), "mine@uid-a/")(d1) {
		t.Error("a device stays pinned after its campaign went and the board was listed again")
	}
	if board.pins != nil {
		t.Error("the board indexed pins though no other campaign pins anything")
	}
	if n := svc.lists.Load(); n != 3 {
		t.Errorf("%d listings, want 3", n)
	}

	// While one campaign alone has remote campaigns, the board holds none of their device ids.
	draftCampaign(t, svc, "mine@uid-a/w1.a0.c0", d1, d2, d3)
	if lookup(t0.Add(2*pinBoardTTL+time.Second), "mine@uid-a/")(d1) {
		t.Error("a campaign's own pins count as foreign")
	}
	if board.solo != "mine@uid-a/" || slices.ContainsFunc(board.campaigns, func(c pinnedCampaign) bool { return c.ids != nil }) {
		t.Errorf("a board of one campaign's remote campaigns (solo %q) keeps their ids", board.solo)
	}
	if !lookup(t0.Add(2*pinBoardTTL+time.Second), "other@uid-b/")(d1) {
		t.Error("another campaign asking does not see the lone campaign's pins")
	}
}

func TestPinIndexKnowsEveryCampaignPinningADevice(t *testing.T) {
	p := newPinIndex()
	const hexID = "0000000000000000000000000000abcd"
	p.add("a/w0", []string{hexID, "odd-device"})
	p.add("b/w0", []string{"0000-0000-0000-0000-0000-0000-0000-ABCD"}) // the same device, written otherwise
	p.add("c/w0", []string{hexID})
	p.add("a/w0", []string{hexID}) // entered again after a listing: no harm
	is := func(prefix string) func(string) bool {
		return func(name string) bool { return strings.HasPrefix(name, prefix) }
	}
	for _, tc := range []struct {
		id, by string
		want   bool
	}{
		{hexID, "a/", true}, {hexID, "b/", true}, {hexID, "c/", true}, {hexID, "d/", false},
		{"0000000000000000000000000000ABCD", "b/", true},
		{"odd-device", "a/", true}, {"odd-device", "b/", false},
		{"0000000000000000000000000000abce", "a/", false},
	} {
		if got := p.pinnedBy(tc.id, is(tc.by)); got != tc.want {
			t.Errorf("pinnedBy(%s, %s*) = %v, want %v", tc.id, tc.by, got, tc.want)
		}
	}
}
