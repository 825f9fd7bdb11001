package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// ledgerWatch polls the simulator's ledger (without targets) and lets scenarios wait for a change in
// it, such as a new remote campaign created or one starting to stop. It polls fast only while some
// scenario is waiting for a window, so the rest of the time it costs the small machine little.
type ledgerWatch struct {
	sim   *simulator
	armed atomic.Int32

	mu      sync.Mutex
	last    *Ledger
	changed chan struct{} // closed and replaced on every poll
}

const (
	fastPoll = 25 * time.Millisecond
	slowPoll = time.Second
)

func newLedgerWatch(sim *simulator) *ledgerWatch {
	return &ledgerWatch{sim: sim, last: &Ledger{}, changed: make(chan struct{})}
}

// run polls until ctx ends.
func (w *ledgerWatch) run(ctx context.Context) {
	for ctx.Err() == nil {
		if l, err := w.sim.ledger(ctx, false); err == nil {
			w.mu.Lock()
			w.last = l
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
		interval := slowPoll
		if w.armed.Load() > 0 {
			interval = fastPoll
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

func (w *ledgerWatch) current() (*Ledger, chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.changed
}

// await polls fast until pred holds for a fresh ledger, for at most timeout; it returns that ledger,
// or nil when the time ran out.
func (w *ledgerWatch) await(ctx context.Context, timeout time.Duration, pred func(*Ledger) bool) *Ledger {
	w.armed.Add(1)
	defer w.armed.Add(-1)
	deadline := time.After(timeout)
	_, changed := w.current()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return nil
		case <-changed:
		}
		var l *Ledger
		l, changed = w.current()
		if pred(l) {
			return l
		}
	}
}

// createsOf counts the remote campaigns created for the UpdateCampaign with this UID whose names
// contain part (such as ".a1.").
func createsOf(l *Ledger, uid, part string) int {
	n := 0
	for _, c := range l.Creates {
		if c.Kind == kindUpdateCampaign && strings.Contains(c.Name, "@"+uid+"/") && strings.Contains(c.Name, part) {
			n++
		}
	}
	return n
}

// unfinishedOf returns the ids of the UpdateCampaign's remote campaigns that are not finished.
func unfinishedOf(l *Ledger, uid string) map[string]bool {
	out := map[string]bool{}
	for i := range l.Campaigns {
		if c := &l.Campaigns[i]; strings.Contains(c.Name, "@"+uid+"/") && !finished(c) {
			out[c.ID] = true
		}
	}
	return out
}

// stoppingAny reports whether one of the given remote campaigns, running before, is now stopping
// or stopped.
func stoppingAny(l *Ledger, running map[string]bool) bool {
	for i := range l.Campaigns {
		if c := &l.Campaigns[i]; running[c.ID] && (c.Phase == pelion.PhaseStopping || finished(c)) {
			return true
		}
	}
	return false
}
