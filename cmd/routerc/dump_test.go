package main

import (
	"os"
	"testing"
)

// TestDump checks that the dump command prints exactly the golden dump of
// the small fixture (the compiler's golden test rewrites it with -update).
func TestDump(t *testing.T) {
	snap := compileTo(t, smallDir, t.TempDir())
	o, e, code := routerc("dump", snap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	want, err := os.ReadFile(smallDir + "/router.dump")
	if err != nil {
		t.Fatal(err)
	}
	if o != string(want) {
		t.Errorf("dump differs from %s/router.dump (go test ./format/inspect -run TestGoldenDump -update rewrites it)", smallDir)
	}
	if _, _, code := routerc("dump", "../../fixtures/format/corrupt/flip-strings.snap"); code != 1 {
		t.Errorf("dump of a corrupt file: exit %d, want 1", code)
	}
}
