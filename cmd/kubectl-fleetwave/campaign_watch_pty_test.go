package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/testenv"
)

// terminalSession runs a fleetwave command with a pseudo-terminal as its output, as a person's
// shell would, and records what it draws.
type terminalSession struct {
	tty    *os.File
	drawn  syncBuffer
	copied chan struct{}
	result chan error
}

func startOnTerminal(t *testing.T, cols, rows uint16, args ...string) *terminalSession {
	t.Helper()
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("NO_COLOR", "")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: cols, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	s := &terminalSession{tty: tty, copied: make(chan struct{}), result: make(chan error, 1)}
	go func() {
		_, _ = io.Copy(&s.drawn, ptmx) // ends with EIO once the command's side is closed
		close(s.copied)
	}()
	go func() {
		root := newRootCmd()
		root.SetOut(tty)
		root.SetErr(tty)
		root.SetArgs(append(args, "--kubeconfig", adminKubeconfig))
		s.result <- root.ExecuteContext(context.Background())
	}()
	return s
}

// screen is what the terminal shows now.
func (s *terminalSession) screen(t *testing.T) string {
	t.Helper()
	var vt vtScreen
	if err := vt.write(s.drawn.String()); err != nil {
		t.Fatalf("the command sent the terminal something the live view must not: %v", err)
	}
	return vt.text()
}

func (s *terminalSession) waitForScreen(t *testing.T, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "the terminal", func() (bool, string) {
		screen := s.screen(t)
		return strings.Contains(screen, want), fmt.Sprintf("it never showed %q; it shows:\n%s", want, screen)
	})
}

// finish waits for the command and everything it drew.
func (s *terminalSession) finish(t *testing.T) error {
	t.Helper()
	var err error
	select {
	case err = <-s.result:
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not end")
	}
	s.tty.Close()
	<-s.copied
	return err
}

// status -w on a terminal draws the campaign again on every change over the last frame: the
// terminal ends up holding one frame, not one per version.
func TestStatusWatchRedrawsInPlaceOnATerminal(t *testing.T) {
	key := createCampaign(t)
	setStatus(t, key, progressing(0))
	s := startOnTerminal(t, 100, 30, "status", "uc", "-n", key.Namespace, "-w", "--timeout", "2m")

	for wave := range int32(3) {
		setStatus(t, key, progressing(wave))
		s.waitForScreen(t, fmt.Sprintf("Progressing · wave %d/4", wave+1))
	}
	setStatus(t, key, ended(v1.CampaignCompleted, v1.ReasonCompleted, "all 4 waves completed"))
	if err := s.finish(t); err != nil {
		t.Fatalf("status -w: %v", err)
	}

	screen := s.screen(t)
	if draws := strings.Count(s.drawn.String(), "UpdateCampaign "); draws < 4 {
		t.Fatalf("the campaign was drawn %d times for 4 versions", draws)
	}
	if frames := strings.Count(screen, "UpdateCampaign "); frames != 1 {
		t.Errorf("the terminal holds %d frames, want 1 redrawn in place:\n%s", frames, screen)
	}
	if !strings.Contains(screen, "Completed · wave") || strings.Contains(screen, "Progressing · wave") {
		t.Errorf("the terminal does not show just the completed campaign:\n%s", screen)
	}
	if lines := strings.Count(screen, "\n") + 1; lines >= 30 {
		t.Errorf("the frame takes %d lines of a 30-line terminal: a redraw would scroll", lines)
	}
	for _, l := range strings.Split(screen, "\n") {
		if n := len([]rune(l)); n >= 100 {
			t.Errorf("a line of %d columns on a 100-column terminal wraps: %q", n, l)
		}
	}
}

// When the campaign fails, the last frame stays above the error, and the exit is non-zero.
func TestStatusWatchOnATerminalEndsBelowTheFrame(t *testing.T) {
	key := createCampaign(t)
	setStatus(t, key, progressing(1))
	s := startOnTerminal(t, 80, 24, "status", "uc", "-n", key.Namespace, "-w")
	s.waitForScreen(t, "Progressing · wave 2/4")
	setStatus(t, key, ended(v1.CampaignFailed, v1.ReasonSuccessThresholdNotMet, "wave early: 80 of 100 succeeded"))
	if err := s.finish(t); !errors.Is(err, errCampaignEnded) {
		t.Fatalf("status -w of a failed campaign: error %v, want errCampaignEnded", err)
	}
	screen := s.screen(t)
	if !strings.Contains(screen, "Failed · wave 2/4") || !strings.Contains(screen, "↳ failed: kubectl fleetwave retry uc -n "+key.Namespace) {
		t.Errorf("the last frame does not show the failure and the command to retry:\n%s", screen)
	}
}
