package server

import (
	"strings"
	"testing"
)

func TestAppendFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		prec int
		want string
	}{{1.5, 3, "1.5"}, {2, 3, "2"}, {0.0000012345, 10, "0.0000012345"}, {0.1234567, 4, "0.1235"}, {0, 4, "0"}} {
		if got := string(appendFloat(nil, c.f, c.prec)); got != c.want {
			t.Errorf("appendFloat(%v, %d) = %s, want %s", c.f, c.prec, got, c.want)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	for s, want := range map[string]bool{"abc-123_x.y:z": true, "": false, strings.Repeat("a", 129): false,
		"a b": false, "a\nb": false, "ü": false} {
		if got := validRequestID([]byte(s)); got != want {
			t.Errorf("validRequestID(%q) = %v", s, got)
		}
	}
}
