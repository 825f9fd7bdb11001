package main

import (
	"strings"
	"unicode/utf8"
)

// style is how a span of the live view looks on a colour terminal; without colour every style is
// plain text.
type style int

// Styles of the live view.
const (
	plain style = iota
	bold
	faint
	green
	red
	yellow
	cyan
)

// sgr is each style's ANSI Select Graphic Rendition parameter.
var sgr = map[style]string{bold: "1", faint: "2", green: "32", red: "31", yellow: "33", cyan: "36"}

// span is text of one style. The view's text is runes of one column each (names are Kubernetes
// names, people's text goes through printable), so a span's width is its rune count.
type span struct {
	text  string
	style style
}

// textLine is a line of the live view, built as spans so it can be cut to the terminal's width
// before colour codes are added.
type textLine []span

func (l textLine) width() int {
	n := 0
	for _, s := range l {
		n += utf8.RuneCountInString(s.text)
	}
	return n
}

// cut shortens the line to at most max columns, ending it with "…" when something was cut.
func (l textLine) cut(max int) textLine {
	if l.width() <= max {
		return l
	}
	if max <= 0 {
		return nil
	}
	var out textLine
	room := max - 1 // for the ellipsis
	for _, s := range l {
		if room <= 0 {
			break
		}
		if n := utf8.RuneCountInString(s.text); n > room {
			s.text = string([]rune(s.text)[:room])
		}
		room -= utf8.RuneCountInString(s.text)
		out = append(out, s)
	}
	return append(out, span{text: "…"})
}

// render writes the line, with ANSI colour codes when color is set.
func (l textLine) render(color bool) string {
	var b strings.Builder
	for _, s := range l {
		code, styled := sgr[s.style]
		if !color || !styled {
			b.WriteString(s.text)
			continue
		}
		b.WriteString("\x1b[" + code + "m" + s.text + "\x1b[0m")
	}
	return b.String()
}

// padRight fills text with spaces to width columns.
func padRight(text string, width int) string {
	if n := utf8.RuneCountInString(text); n < width {
		return text + strings.Repeat(" ", width-n)
	}
	return text
}

// padLeft right-aligns text in width columns.
func padLeft(text string, width int) string {
	if n := utf8.RuneCountInString(text); n < width {
		return strings.Repeat(" ", width-n) + text
	}
	return text
}
