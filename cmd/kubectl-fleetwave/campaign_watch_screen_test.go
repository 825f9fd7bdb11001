package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// vtScreen is a terminal reduced to what the live view may send: text, carriage return, line feed,
// cursor up, erase to the end of the line and erase below, and colours (ignored). It has no bottom:
// a line feed on the last line adds a line, as a terminal scrolls, so the lines it holds at the end
// are everything a person could scroll back through. Any other control sequence is an error.
type vtScreen struct {
	lines    [][]rune
	row, col int
}

func (s *vtScreen) write(data string) error {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRuneInString(data[i:])
		switch {
		case r == '\x1b':
			used, err := s.control(data[i:])
			if err != nil {
				return err
			}
			n = used
		case r == '\r':
			s.col = 0
		case r == '\n':
			s.row++
		case r < ' ':
			return fmt.Errorf("control character %q at byte %d", r, i)
		default:
			s.put(r)
		}
		i += n
	}
	return nil
}

// control carries out the CSI sequence at the start of seq and returns its length.
func (s *vtScreen) control(seq string) (int, error) {
	end := strings.IndexAny(seq, "ABCDHJKm")
	if !strings.HasPrefix(seq, "\x1b[") || end < 0 {
		return 0, fmt.Errorf("unexpected escape sequence %q", seq[:min(len(seq), 8)])
	}
	param := seq[2:end]
	switch final := seq[end]; {
	case final == 'm':
	case final == 'A' && param != "":
		n, err := strconv.Atoi(param)
		if err != nil || n > s.row {
			return 0, fmt.Errorf("cursor up %q from line %d", param, s.row)
		}
		s.row -= n
	case final == 'K' && param == "":
		s.grow()
		s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
	case final == 'J' && param == "":
		s.grow()
		s.lines = s.lines[:s.row+1]
		s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
	default:
		return 0, fmt.Errorf("unexpected control sequence %q", seq[:end+1])
	}
	return end + 1, nil
}

func (s *vtScreen) grow() {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, nil)
	}
}

func (s *vtScreen) put(r rune) {
	s.grow()
	line := s.lines[s.row]
	for len(line) <= s.col {
		line = append(line, ' ')
	}
	line[s.col] = r
	s.lines[s.row], s.col = line, s.col+1
}

// text is every line the screen holds, trailing empty lines left out.
func (s *vtScreen) text() string {
	var out []string
	for _, l := range s.lines {
		out = append(out, string(l))
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

func TestScreenDrawsOverTheLastFrame(t *testing.T) {
	var out strings.Builder
	sc := screen{out: &out}
	size := termSize{80, 24}
	frames := [][]string{
		{"one", "two", "three"},
		{"a much longer first line", "2", "3", "4", "5"},
		{"short", "frame"},
	}
	for _, f := range frames {
		if err := sc.draw(f, size); err != nil {
			t.Fatal(err)
		}
	}
	var vt vtScreen
	if err := vt.write(out.String()); err != nil {
		t.Fatal(err)
	}
	if got, want := vt.text(), "short\nframe"; got != want {
		t.Errorf("the terminal shows %q, want only the last frame %q", got, want)
	}
	if vt.row != 2 || vt.col != 0 {
		t.Errorf("cursor at line %d column %d, want the start of the line below the frame (2, 0)", vt.row, vt.col)
	}
}

func TestScreenClearsAfterAResize(t *testing.T) {
	var out strings.Builder
	sc := screen{out: &out}
	if err := sc.draw([]string{"wide frame"}, termSize{120, 40}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := sc.draw([]string{"narrow frame"}, termSize{60, 40}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), clearScreen) {
		t.Errorf("after a resize the frame starts %q, want the screen cleared first", out.String())
	}
}
