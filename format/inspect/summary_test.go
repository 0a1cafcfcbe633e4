package inspect

import (
	"bytes"
	"strings"
	"testing"
)

// TestSummaryNames checks how names from the snapshot are shown: printable
// ones as they are, others quoted, and in Markdown never able to leave their
// code span or table cell.
func TestSummaryNames(t *testing.T) {
	for in, want := range map[string]string{
		"gpt-4o":       "gpt-4o",
		"a\nb":         `"a\nb"`,
		"":             `""`,
		"x\x1b[31m":    `"x\x1b[31m"`,
		"qwen/qwen3:8": "qwen/qwen3:8",
	} {
		if got := plain(in); got != want {
			t.Errorf("plain(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"a|b":  "`a\\|b`",
		"a`b":  "`a'b`",
		"a\nb": "`\"a\\nb\"`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestSummaryAgreesWithDiff checks that Summary reports a change exactly
// when Diff does, and names the sections it does not cover.
func TestSummaryAgreesWithDiff(t *testing.T) {
	old := compileDir(t, smallDir)
	dir := copyTree(t, smallDir)
	replaceIn(t, dir, mainYAML, `prewarm: ["tag:free", `, `prewarm: [`)
	nw := compileDir(t, dir)
	for _, pair := range [][2]bool{{false, false}, {true, false}, {false, true}} {
		a, b := old, old
		if pair[0] {
			b = nw
		}
		var d, s bytes.Buffer
		dc, err1 := Diff(&d, a, b)
		sc, err2 := Summary(&s, a, b, SummaryOptions{Markdown: pair[1]})
		if err1 != nil || err2 != nil || dc != sc {
			t.Fatalf("Diff %t %v, Summary %t %v", dc, err1, sc, err2)
		}
		if dc && !strings.Contains(s.String(), "prewarm") {
			t.Errorf("summary does not name the prewarm change:\n%s", s.String())
		}
	}
}

// TestSummaryHidesKeys checks that a changed literal key is reported in
// both formats without its value.
func TestSummaryHidesKeys(t *testing.T) {
	old := compileDir(t, demoDir)
	dir := copyTree(t, demoDir)
	replaceIn(t, dir, mainYAML, `api_key: "demo-key-main"`, `api_key: "demo-key-MAIN"`)
	nw := compileDir(t, dir)
	for _, md := range []bool{false, true} {
		var out bytes.Buffer
		changed, err := Summary(&out, old, nw, SummaryOptions{Markdown: md})
		if err != nil || !changed {
			t.Fatalf("changed=%t err=%v", changed, err)
		}
		if strings.Contains(out.String(), "demo-key") {
			t.Errorf("summary shows a key:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "api_key changed (value not shown)") {
			t.Errorf("summary does not report the key change:\n%s", out.String())
		}
	}
}
