package diag

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestPos(t *testing.T) {
	for _, tt := range []struct {
		pos  Pos
		want string
	}{
		{At("config/router_config.yaml", 12, 5), "config/router_config.yaml:12:5"},
		{At("a.yaml", 3, 0), "a.yaml:3"},
		{AtOffset("cache/d.json", 0, "$"), "cache/d.json: byte 0 ($)"},
		{AtOffset("cache/d.json", 1024, `$.ch1.models[3]`), "cache/d.json: byte 1024 ($.ch1.models[3])"},
		{Pos{File: "x"}, "x"},
	} {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v: got %q, want %q", tt.pos, got, tt.want)
		}
	}
}

func TestErrorWraps(t *testing.T) {
	e := &Error{Pos: At("f.yaml", 1, 2), Msg: "cannot read", Err: fs.ErrPermission}
	if !errors.Is(e, fs.ErrPermission) {
		t.Fatal("Error does not unwrap to its cause")
	}
	if got := e.Error(); got != "f.yaml:1:2: cannot read: permission denied" {
		t.Fatalf("got %q", got)
	}
}

func TestWarningsGrouped(t *testing.T) {
	var w Warnings
	w.Add(At("b.yaml", 9, 1), "unknown key", "foo")
	w.Add(At("a.yaml", 2, 1), "unknown key", "bar")
	w.Add(At("a.yaml", 1, 1), "literal secret", "channels[0].api_key")
	w.Add(At("a.yaml", 1, 1), "unknown key", "baz")
	var b strings.Builder
	w.Print(&b, 2)
	want := `warning: literal secret (1)
  a.yaml:1:1: channels[0].api_key
warning: unknown key (3)
  a.yaml:1:1: baz
  a.yaml:2:1: bar
  ... and 1 more
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if w.Len() != 4 {
		t.Fatalf("Len = %d", w.Len())
	}
}
