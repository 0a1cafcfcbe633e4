package inspect

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A PostgreSQL usage.path with a password is dumped with the password
// replaced; an ${ENV} reference is dumped as written.
func TestDumpMasksUsagePostgresURL(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{`"postgres://router:hunter2-pg-pass@db:5432/usage?sslmode=disable"`, `path "postgres://router:REDACTED@db:5432/usage?sslmode=disable"`},
		{`"${ROUTER_USAGE_DB}"`, `path "${ROUTER_USAGE_DB}"`},
	} {
		dir := copyTree(t, demoDir)
		b, err := os.ReadFile(filepath.Join(dir, mainYAML))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, mainYAML, string(b)+"usage:\n  path: "+tc.path+"\n")
		var out bytes.Buffer
		if err := Dump(&out, compileDir(t, dir)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "hunter2-pg-pass") {
			t.Errorf("the dump shows the PostgreSQL password")
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("the dump has no %s", tc.want)
		}
	}
}
