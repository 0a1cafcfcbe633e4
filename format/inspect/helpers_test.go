package inspect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/compiler"
	"smartrouter/format"
)

// Fixture folders, relative to this package. The tests compile them with
// the compiler; the package itself never imports it.
const (
	smallDir = "../../fixtures/small"
	demoDir  = "../../fixtures/demo"
	mainYAML = "config/router_config.yaml"
)

const unk = format.PriceUnknown

// compileDir compiles the installation in dir reproducibly and opens it.
func compileDir(t testing.TB, dir string) *format.Snapshot {
	t.Helper()
	b, err := compiler.BuildBytes(filepath.Join(dir, "config"), filepath.Join(dir, "cache"), compiler.Options{Reproducible: true}, nil)
	if err != nil {
		t.Fatalf("build %s: %v", dir, err)
	}
	s, err := format.Open(b)
	if err != nil {
		t.Fatalf("open the snapshot of %s: %v", dir, err)
	}
	return s
}

// copyTree copies the folder src into a new temporary folder and returns it.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", rel, old)
	}
	writeFile(t, dir, rel, strings.Replace(string(b), old, new, 1))
}

func formatSecret(env, lit string) format.Secret { return format.Secret{Env: env, Literal: lit} }
