package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// proc is a child process whose output goes to its own log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{}
	err     error // the exit, once done is closed
}

// startProc starts name with args, its stdout and stderr in logPath.
func startProc(logPath string, env []string, name string, args ...string) (*proc, error) {
	logFile, err := os.Create(logPath) //nolint:gosec // a log file in the harness's own run directory
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...) //nolint:gosec // bin/manager and bin/fleetwave of this repository
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the harness itself die, its children go with it rather than run on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(name), err)
	}
	p := &proc{name: filepath.Base(name), cmd: cmd, logPath: logPath, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exitStatus describes how the process ended, once it has.
func (p *proc) exitStatus() string {
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to this process (by its pid) and waits for it to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to end with SIGTERM, and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// waitForLine waits until the process's log has a line matching re and returns its submatches.
func (p *proc) waitForLine(ctx context.Context, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(readFile(p.logPath)); m != nil {
			return m, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("%s exited (%s) before logging %q:\n%s", p.name, p.exitStatus(), re, tail(p.logPath, 20))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("%s did not log %q within %v:\n%s", p.name, re, timeout, tail(p.logPath, 20))
}

func readFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(data)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// logScanner reads a growing log file from where it last stopped, for a marker line.
type logScanner struct {
	path   string
	offset int64
	found  bool
}

// seen reports whether the log holds a line containing marker (case-insensitive), reading only what
// was appended since the last call.
func (s *logScanner) seen(marker string) bool {
	if s.found {
		return true
	}
	f, err := os.Open(s.path) //nolint:gosec // a log file in the harness's own run directory
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(s.offset, 0); err != nil {
		return false
	}
	r := bufio.NewReader(f)
	marker = strings.ToLower(marker)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false // a partial last line is read again next time
		}
		s.offset += int64(len(line))
		if strings.Contains(strings.ToLower(line), marker) {
			s.found = true
			return true
		}
	}
}
