package sim

import (
	"container/heap"
	"sync"
	"time"
)

// engine runs the simulator's timed work: phase changes and device reports. One goroutine keeps a heap
// of due times (so 100,000 waiting devices cost 100,000 heap entries, not goroutines) and hands due
// work to a fixed pool of workers.
type engine struct {
	mu      sync.Mutex
	pending jobHeap
	seq     uint64
	wake    chan struct{}
	work    chan func()
	done    chan struct{}
	wg      sync.WaitGroup
	stopped bool
}

type job struct {
	at  time.Time
	seq uint64 // keeps equal times in submission order
	run func()
}

type jobHeap []job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = job{}
	*h = old[:len(old)-1]
	return j
}

func newEngine(workers int) *engine {
	e := &engine{wake: make(chan struct{}, 1), work: make(chan func(), workers), done: make(chan struct{})}
	e.wg.Add(workers + 1)
	for range workers {
		go e.worker()
	}
	go e.dispatch()
	return e
}

// after runs fn on a worker once d has passed. It never blocks, so callers may hold locks.
func (e *engine) after(d time.Duration, fn func()) {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.seq++
	heap.Push(&e.pending, job{at: time.Now().Add(d), seq: e.seq, run: fn})
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *engine) dispatch() {
	defer e.wg.Done()
	defer close(e.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next := e.takeDue()
		for _, fn := range due {
			select {
			case e.work <- fn:
			case <-e.done:
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(next)
		select {
		case <-e.wake:
		case <-timer.C:
		case <-e.done:
			return
		}
	}
}

// takeDue pops the jobs whose time has come and says how long until the next one.
func (e *engine) takeDue() ([]func(), time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	var due []func()
	for e.pending.Len() > 0 && !e.pending[0].at.After(now) {
		due = append(due, heap.Pop(&e.pending).(job).run)
	}
	if e.pending.Len() == 0 {
		return due, time.Hour
	}
	return due, e.pending[0].at.Sub(now)
}

func (e *engine) worker() {
	defer e.wg.Done()
	for fn := range e.work {
		fn()
	}
}

// stop abandons pending work and waits for running work to finish.
func (e *engine) stop() {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	e.pending = nil
	e.mu.Unlock()
	close(e.done)
	e.wg.Wait()
}
