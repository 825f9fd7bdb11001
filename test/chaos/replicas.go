package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The operator's leader election Lease, and the line client-go's leader elector logs once it holds it.
const (
	leaseName      = "fleetwave.update.fleetwave.io"
	acquiredMarker = "successfully acquired lease"
)

// replicaSet runs the operator (bin/manager) as two OS processes with leader election, restarts a
// replica the moment it exits (killed by the harness, or stepping down after losing its lease), and
// finds and kills the leader.
type replicaSet struct {
	bin, dir   string
	args       []string
	env        []string
	c          client.Client
	namespace  string // of the Lease
	maxStarts  int
	mu         sync.Mutex
	slots      []*replica
	identities map[string]*instance // Lease holderIdentity → the instance that held it
	exits      int                  // instances that exited without being killed by the harness
	failed     chan error
	wg         sync.WaitGroup
}

// replica is one of the two slots; its current instance is replaced on every restart.
type replica struct {
	name    string
	starts  int
	current *instance
}

// instance is one run of the operator process.
type instance struct {
	label    string // a-3: slot a, third start
	proc     *proc
	log      *logScanner
	killed   bool
	identity string
}

func newReplicaSet(bin, dir, namespace string, c client.Client, env, args []string, maxStarts int) *replicaSet {
	return &replicaSet{bin: bin, dir: dir, namespace: namespace, c: c, env: env, args: args, maxStarts: maxStarts,
		slots: []*replica{{name: "a"}, {name: "b"}}, identities: map[string]*instance{}, failed: make(chan error, 2)}
}

// start launches both replicas and their supervisors; they run until ctx ends.
func (rs *replicaSet) start(ctx context.Context) error {
	for _, r := range rs.slots {
		if err := rs.launch(r); err != nil {
			return err
		}
		rs.wg.Add(1)
		go rs.supervise(ctx, r)
	}
	return nil
}

func (rs *replicaSet) launch(r *replica) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r.starts >= rs.maxStarts {
		return fmt.Errorf("replica %s started %d times; giving up", r.name, r.starts)
	}
	r.starts++
	label := fmt.Sprintf("%s-%d", r.name, r.starts)
	logPath := filepath.Join(rs.dir, "manager-"+label+".log")
	p, err := startProc(logPath, rs.env, rs.bin, rs.args...)
	if err != nil {
		return err
	}
	r.current = &instance{label: label, proc: p, log: &logScanner{path: logPath}}
	return nil
}

// supervise restarts the replica whenever its process exits, until ctx ends: at once after a kill,
// with a growing pause (as a crash-looping pod's) after an exit of its own within seconds of
// starting, which the operator does while the API server is down. Twenty such exits running mean
// the operator cannot run: the harness stops with its log.
func (rs *replicaSet) supervise(ctx context.Context, r *replica) {
	defer rs.wg.Done()
	quick := 0
	for {
		inst := rs.currentOf(r)
		select {
		case <-ctx.Done():
			inst.proc.stop(10 * time.Second)
			return
		case <-inst.proc.done:
		}
		rs.mu.Lock()
		killed := inst.killed
		if !killed {
			rs.exits++
		}
		rs.mu.Unlock()
		if killed || time.Since(inst.proc.started) > 10*time.Second {
			quick = 0
		} else {
			quick++
		}
		if quick >= 20 {
			rs.failed <- fmt.Errorf("replica %s keeps exiting at start (%s):\n%s", r.name, inst.proc.exitStatus(), tail(inst.proc.logPath, 30))
			return
		}
		if quick > 0 && !sleep(ctx, min(250*time.Millisecond<<quick, 5*time.Second)) {
			return
		}
		if err := rs.launch(r); err != nil {
			rs.failed <- err
			return
		}
	}
}

func (rs *replicaSet) currentOf(r *replica) *instance {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return r.current
}

// wait returns when every supervisor has stopped its replica (after ctx ended).
func (rs *replicaSet) wait() { rs.wg.Wait() }

// leader returns the live instance that holds the Lease, or nil while none does (an election in
// progress, or the holder was just killed and its lease has not expired). The Lease names its holder
// by hostname_uuid, which both replicas share the first half of, so the holder is matched to a
// process by the leader elector's own log line: the one live instance that logged acquiring the
// lease is the holder, and the identity is remembered for it.
func (rs *replicaSet) leader(ctx context.Context) (*instance, error) {
	lease := &coordinationv1.Lease{}
	if err := rs.c.Get(ctx, client.ObjectKey{Namespace: rs.namespace, Name: leaseName}, lease); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder == "" {
		return nil, nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var acquired []*instance
	for _, r := range rs.slots {
		if inst := r.current; !inst.proc.exited() && inst.log.seen(acquiredMarker) {
			acquired = append(acquired, inst)
		}
	}
	if known, ok := rs.identities[holder]; ok {
		if len(acquired) == 1 && acquired[0] == known {
			return known, nil
		}
		return nil, nil // the known holder is dead or stepping down
	}
	if len(acquired) != 1 || acquired[0].identity != "" {
		return nil, nil
	}
	acquired[0].identity = holder
	rs.identities[holder] = acquired[0]
	return acquired[0], nil
}

// killLeader SIGKILLs the leader's process, if a leader is known, and reports what it killed; the
// supervisor starts the replica again at once.
func (rs *replicaSet) killLeader(ctx context.Context) (string, bool, error) {
	inst, err := rs.leader(ctx)
	if err != nil || inst == nil {
		return "", false, err
	}
	rs.mu.Lock()
	inst.killed = true
	rs.mu.Unlock()
	inst.proc.kill()
	return inst.label, true, nil
}

// waitLeader waits up to timeout for a live leader.
func (rs *replicaSet) waitLeader(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if inst, err := rs.leader(ctx); err == nil && inst != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no operator replica became leader within %v", timeout)
}

// logTails returns the tail of each replica's current and previous logs, for a failure report.
func (rs *replicaSet) logTails(lines int) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := ""
	for _, r := range rs.slots {
		for n := max(r.starts-1, 1); n <= r.starts; n++ {
			path := filepath.Join(rs.dir, fmt.Sprintf("manager-%s-%d.log", r.name, n))
			out += fmt.Sprintf("---- %s (last %d lines)\n%s\n", path, lines, tail(path, lines))
		}
	}
	return out
}

// counts reports how often replicas were started and exited on their own.
func (rs *replicaSet) counts() (starts, exits int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.slots {
		starts += r.starts
	}
	return starts, rs.exits
}
