package main

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	dir := t.TempDir()
	small, demo := compileTo(t, smallDir, dir), compileTo(t, demoDir, dir)
	tests := []struct {
		a, b string
		code int
		want []string
	}{
		{small, small, 0, []string{"no differences"}},
		{demo, demoDir + "/router.snap", 0, []string{"no differences"}},
		{small, demo, 1, []string{"channels: +5 -8 ~0", "+ mock_main", "- groq_fast", "pairs: +14 -28", "tags: +", "+ demo (14)"}},
		{small, "missing.snap", 2, nil},
	}
	for _, tc := range tests {
		o, e, code := routerc("diff", tc.a, tc.b)
		if code != tc.code {
			t.Errorf("diff %s %s: exit %d, want %d (%s)", tc.a, tc.b, code, tc.code, e)
		}
		for _, w := range tc.want {
			if !strings.Contains(o, w) {
				t.Errorf("diff %s %s lacks %q:\n%s", tc.a, tc.b, w, o)
			}
		}
	}
}
