// Package diag holds the compiler's diagnostics: errors that point at a place
// in an input file (line:column for YAML, byte offset and JSON path for JSON)
// and warnings that are collected during a compile and printed once, grouped.
package diag

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// Pos is a place in an input file. Line and Col are 1-based (YAML); Offset is
// a byte offset (JSON) and JSONPath a path such as $.ch1.models_data["x"].
// Zero fields are not printed.
type Pos struct {
	File     string
	Line     int
	Col      int
	Offset   int64
	JSONPath string
	hasOff   bool
}

// At returns a YAML-style position.
func At(file string, line, col int) Pos { return Pos{File: file, Line: line, Col: col} }

// AtOffset returns a JSON-style position.
func AtOffset(file string, off int64, path string) Pos {
	return Pos{File: file, Offset: off, JSONPath: path, hasOff: true}
}

func (p Pos) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	switch {
	case p.Line > 0:
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	case p.hasOff:
		fmt.Fprintf(&b, ": byte %d", p.Offset)
	}
	if p.JSONPath != "" {
		fmt.Fprintf(&b, " (%s)", p.JSONPath)
	}
	return b.String()
}

// Error is an input error with its position. It wraps an optional cause.
type Error struct {
	Pos Pos
	Msg string
	Err error
}

// Errorf builds an *Error at pos.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Warning is a non-fatal finding. Group is a short category used to print
// warnings together ("unknown key", "literal secret", ...).
type Warning struct {
	Pos   Pos
	Group string
	Msg   string
}

// Warnings collects warnings; safe for concurrent use. The zero value is ready.
type Warnings struct {
	mu   sync.Mutex
	list []Warning
}

// Add records a warning.
func (w *Warnings) Add(pos Pos, group, format string, args ...any) {
	w.mu.Lock()
	w.list = append(w.list, Warning{Pos: pos, Group: group, Msg: fmt.Sprintf(format, args...)})
	w.mu.Unlock()
}

// List returns the warnings sorted by group, then file, then position.
func (w *Warnings) List() []Warning {
	w.mu.Lock()
	out := append([]Warning(nil), w.list...)
	w.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Offset < b.Pos.Offset
	})
	return out
}

// Len returns the number of warnings.
func (w *Warnings) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.list)
}

// Print writes the warnings grouped, each group once with its count; at most
// max lines per group (0 = all), the rest summarised.
func (w *Warnings) Print(out io.Writer, max int) {
	list := w.List()
	for i := 0; i < len(list); {
		j := i
		for j < len(list) && list[j].Group == list[i].Group {
			j++
		}
		fmt.Fprintf(out, "warning: %s (%d)\n", list[i].Group, j-i)
		for k := i; k < j; k++ {
			if max > 0 && k-i == max {
				fmt.Fprintf(out, "  ... and %d more\n", j-k)
				break
			}
			fmt.Fprintf(out, "  %s: %s\n", list[k].Pos, list[k].Msg)
		}
		i = j
	}
}
