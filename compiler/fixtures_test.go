package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"smartrouter/format"
	"smartrouter/format/query"
)

// TestFixturesCompileAndVerify compiles every installation of the
// repository, reads the file back and validates it completely; the scale and
// growth fixtures are skipped when fixtures/generated is missing (go run
// ./fixtures/gen writes it).
func TestFixturesCompileAndVerify(t *testing.T) {
	tests := []struct {
		dir                string
		generated          bool
		minPairs, maxPairs int
		channels           int
	}{
		{smallDir, false, 28, 28, 8},
		{demoDir, false, 14, 14, 5},
		{scaleDir, true, 4000, 5000, 38},
		{growthDir, true, 90_000, 120_000, 645},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			if tc.generated {
				skipWithoutGenerated(t, tc.dir)
				if testing.Short() && tc.dir == growthDir {
					t.Skip("growth fixture skipped in -short mode")
				}
			}
			out := filepath.Join(t.TempDir(), "router.snap")
			sum, err := Compile(filepath.Join(tc.dir, "config"), filepath.Join(tc.dir, "cache"), out, Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			s, err := format.Open(b)
			if err != nil {
				t.Fatalf("the compiled file does not validate: %v", err)
			}
			if n := s.NumPairs(); n < tc.minPairs || n > tc.maxPairs || n != sum.Pairs {
				t.Errorf("%d pairs (summary %d), want %d..%d", n, sum.Pairs, tc.minPairs, tc.maxPairs)
			}
			if n := len(s.Channels()); n != tc.channels {
				t.Errorf("%d channels, want %d", n, tc.channels)
			}
			if sum.Bytes != len(b) || sum.Tags != s.NumTags() {
				t.Errorf("summary %+v does not describe the file (%d bytes, %d tags)", sum, len(b), s.NumTags())
			}
			// The prewarm lists are what the resolver the router uses gives.
			r := query.NewResolver(s)
			for _, pw := range s.Prewarm() {
				_, pairs, err := r.Resolve(pw.Query)
				if err != nil {
					t.Fatalf("prewarm %q: %v", pw.Query, err)
				}
				if len(pairs) != len(pw.Pairs) {
					t.Errorf("prewarm %q: %d pairs stored, the router resolves %d", pw.Query, len(pw.Pairs), len(pairs))
				}
			}
		})
	}
}
