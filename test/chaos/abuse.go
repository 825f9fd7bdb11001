package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Kinds of leader kills, as the report counts them.
const (
	killRandom    = "random"
	killCreate    = "after a remote create, before status"
	killAbortStop = "while abort stops a wave"
	killRetry     = "while retry re-creates a wave"
	killDelete    = "while deletion stops the remote campaigns"
)

// tally counts what the harness did to the system.
type tally struct {
	mu       sync.Mutex
	kills    map[string]int
	missed   map[string]int // windows where no leader could be killed in time
	restarts int
	added    int
	removed  int
	changed  int
	accepted int // waves whose failures paused a campaign, accepted
	notes    []string
}

func newTally() *tally { return &tally{kills: map[string]int{}, missed: map[string]int{}} }

func (t *tally) add(f func(*tally)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t)
}

func (t *tally) note(format string, args ...any) {
	t.add(func(t *tally) { t.notes = append(t.notes, fmt.Sprintf(format, args...)) })
	logf(format, args...)
}

func (t *tally) snapshot() (kills map[string]int, restarts, added, removed, changed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kills = map[string]int{}
	for k, v := range t.kills {
		kills[k] = v
	}
	return kills, t.restarts, t.added, t.removed, t.changed
}

// killer kills the operator's leader, one kill at a time. While a scenario holds a window (an
// abort, a retry or a deletion being carried out), the other kills wait, so the scenario's kill finds
// the leader that is doing the work.
type killer struct {
	mu    sync.Mutex
	rs    *replicaSet
	tally *tally
	held  atomic.Int32
}

// hold keeps random and create-window kills back until release.
func (k *killer) hold()    { k.held.Add(1) }
func (k *killer) release() { k.held.Add(-1) }

// waitUnheld waits (at most two minutes) until no scenario holds a window.
func (k *killer) waitUnheld(ctx context.Context) {
	for i := 0; i < 1200 && k.held.Load() > 0; i++ {
		if !sleep(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// kill SIGKILLs the current leader and counts it under kind; it reports false when no leader was
// found within wait (an election in progress, the API server down).
func (k *killer) kill(ctx context.Context, kind string, wait time.Duration) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	deadline := time.Now().Add(wait)
	for {
		label, ok, err := k.rs.killLeader(ctx)
		if ok {
			k.tally.add(func(t *tally) { t.kills[kind]++ })
			logf("killed leader %s (%s)", label, kind)
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			k.tally.add(func(t *tally) { t.missed[kind]++ })
			logf("no leader to kill (%s): %v", kind, err)
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// randomKills kills the leader n times at random moments: each leader is let live for a tenure drawn
// in [minTenure, maxTenure] after it was elected, so the rollout makes progress between kills.
func randomKills(ctx context.Context, k *killer, rng *rand.Rand, n int, minTenure, maxTenure time.Duration) {
	for done := 0; done < n && ctx.Err() == nil; {
		if err := k.rs.waitLeader(ctx, time.Minute); err != nil {
			logf("random kills: %v", err)
			continue
		}
		if !sleep(ctx, between(rng, minTenure, maxTenure)) {
			return
		}
		k.waitUnheld(ctx)
		if k.kill(ctx, killRandom, 30*time.Second) {
			done++
		}
	}
}

// apiRestarts restarts kube-apiserver n times, spread over the main campaign's waves before the
// last: restart i once wave (i+1)·(waves-1)/(n+1) has rolled out for a few seconds, each down for
// one to three seconds.
func apiRestarts(ctx context.Context, h *harness, rng *rand.Rand, n int) error {
	for i := 0; i < n && ctx.Err() == nil; i++ {
		k := (i + 1) * (len(waveNames) - 1) / (n + 1)
		if err := h.waitReached(ctx, h.main.key, k, h.remaining(verifyReserve)); err != nil {
			return err
		}
		if !sleep(ctx, between(rng, 2*time.Second, 10*time.Second)) {
			return nil
		}
		down := between(rng, time.Second, 3*time.Second)
		logf("restarting kube-apiserver during wave %d (down %v)", k, down.Round(time.Millisecond))
		if err := h.cp.restartAPIServer(context.WithoutCancel(ctx), down); err != nil {
			return err
		}
		h.tally.add(func(t *tally) { t.restarts++ })
		logf("kube-apiserver is back")
	}
	return nil
}

func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// sleep waits d, or less if ctx ends first; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func logf(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
