package vocab_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayering keeps the import direction of the module: format/ (the
// snapshot contract, with vocab and query) below both sides, compiler/ and
// runtime/ never importing each other, and no YAML library in the server. It
// runs `go list -deps` and is skipped when no go command is found.
func TestLayering(t *testing.T) {
	goTool := findGo(t)
	root := moduleRoot(t)
	yaml := []string{"go.yaml.in/yaml", "gopkg.in/yaml"}
	rules := []struct {
		pattern   string
		forbidden []string
	}{
		{"./runtime/...", append([]string{"smartrouter/compiler"}, yaml...)},
		{"./compiler/...", []string{"smartrouter/runtime"}},
		{"./format/...", append([]string{"smartrouter/compiler", "smartrouter/runtime", "smartrouter/cmd"}, yaml...)},
	}
	for _, r := range rules {
		for _, dep := range goList(t, goTool, root, "-deps", r.pattern) {
			for _, f := range r.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s (nothing under %s may import %s)", r.pattern, dep, strings.TrimSuffix(r.pattern, "/..."), f)
				}
			}
		}
	}

	// vocab is imported by everything: it stays on the standard library and
	// the snapshot format.
	imports := goList(t, goTool, root, "-f", `{{join .Imports "\n"}}`, "./format/vocab")
	for _, p := range imports {
		if p == "smartrouter/format" {
			continue
		}
		if first, _, _ := strings.Cut(p, "/"); first == "smartrouter" || strings.Contains(first, ".") {
			t.Errorf("format/vocab imports %s; it may import only the standard library and smartrouter/format", p)
		}
	}
}

// goList runs go list in the module root and returns its output lines.
func goList(t *testing.T, goTool, root string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(goTool, append([]string{"list"}, args...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("go list %s: %s", strings.Join(args, " "), msg)
	}
	return strings.Fields(string(out))
}

// findGo returns the go command: "go" on PATH, else $GOROOT/bin/go.
func findGo(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if gr := os.Getenv("GOROOT"); gr != "" {
		p := filepath.Join(gr, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no go command on PATH nor in $GOROOT/bin: the layering check needs `go list`")
	return ""
}

// moduleRoot walks up from the test's directory to the folder holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}
