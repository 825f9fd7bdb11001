package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Terminal control sequences the live view uses: no more than these, which every terminal since
// the VT100 understands.
const (
	eraseLineRight = "\x1b[K"        // erase from the cursor to the end of the line
	eraseBelow     = "\x1b[J"        // erase from the cursor to the end of the screen
	clearScreen    = "\x1b[H\x1b[2J" // cursor home, erase the screen
)

// cursorUp moves the cursor to the start of the line n lines up.
func cursorUp(n int) string { return fmt.Sprintf("\r\x1b[%dA", n) }

// screen redraws a frame of lines in place: each frame overwrites the last, so the terminal does
// not scroll. The cursor rests on the line below the frame, where whatever follows (an error, the
// shell's prompt) appears.
type screen struct {
	out   io.Writer
	drawn int // lines of the frame on the terminal
	size  termSize
}

// termSize is a terminal's size in columns and lines.
type termSize struct{ width, height int }

// draw replaces the frame on the terminal with lines, which must each fit the terminal's width.
// The frame is written in one write, so a reader never sees half of it. A terminal resized since
// the last frame is cleared first: lines drawn for another width may have wrapped, so where the
// last frame starts is no longer known.
func (s *screen) draw(lines []string, size termSize) error {
	var b strings.Builder
	switch {
	case s.drawn > 0 && size != s.size:
		b.WriteString(clearScreen)
	case s.drawn > 0:
		b.WriteString(cursorUp(s.drawn))
	}
	for _, l := range lines {
		// "\r\n" rather than "\n": a terminal in raw mode does not return the cursor by itself.
		b.WriteString(l + eraseLineRight + "\r\n")
	}
	b.WriteString(eraseBelow)
	s.drawn, s.size = len(lines), size
	_, err := io.WriteString(s.out, b.String())
	return err
}

// Sizes assumed when a terminal does not tell its own.
const (
	defaultTermWidth  = 80
	defaultTermHeight = 24
)

// sizeOf asks the terminal f for its size.
func sizeOf(f *os.File) termSize {
	width, height, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 || height <= 0 {
		return termSize{defaultTermWidth, defaultTermHeight}
	}
	return termSize{width, height}
}

// terminalOf returns w as a terminal that understands cursor movement, if it is one: a character
// device, and TERM not "dumb".
func terminalOf(w io.Writer) (*os.File, bool) {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return nil, false
	}
	info, err := f.Stat()
	return f, err == nil && info.Mode()&os.ModeCharDevice != 0
}

// colorWanted follows https://no-color.org: any non-empty NO_COLOR turns colour off.
func colorWanted() bool { return os.Getenv("NO_COLOR") == "" }
