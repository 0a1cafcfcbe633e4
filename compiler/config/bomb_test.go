package config

import (
	"runtime"
	"strings"
	"testing"

	"smartrouter/compiler/diag"
)

// billionLaughs is the classic document: nine levels of nine aliases, 10^9
// strings once expanded.
const billionLaughs = `pricing:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
channels: []
`

// mergeBomb nests merge keys instead of lists.
const mergeBomb = `x0: &x0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}
x1: &x1 {k1: *x0, k2: *x0, k3: *x0, k4: *x0, k5: *x0, k6: *x0, k7: *x0, k8: *x0}
x2: &x2 {k1: *x1, k2: *x1, k3: *x1, k4: *x1, k5: *x1, k6: *x1, k7: *x1, k8: *x1}
x3: &x3 {k1: *x2, k2: *x2, k3: *x2, k4: *x2, k5: *x2, k6: *x2, k7: *x2, k8: *x2}
x4: &x4 {k1: *x3, k2: *x3, k3: *x3, k4: *x3, k5: *x3, k6: *x3, k7: *x3, k8: *x3}
x5: &x5 {k1: *x4, k2: *x4, k3: *x4, k4: *x4, k5: *x4, k6: *x4, k7: *x4, k8: *x4}
x6: &x6 {k1: *x5, k2: *x5, k3: *x5, k4: *x5, k5: *x5, k6: *x5, k7: *x5, k8: *x5}
x7: &x7 {k1: *x6, k2: *x6, k3: *x6, k4: *x6, k5: *x6, k6: *x6, k7: *x6, k8: *x6}
pricing:
  <<: *x7
channels: []
`

func TestYAMLBomb(t *testing.T) {
	for name, doc := range map[string]string{"billion laughs": billionLaughs, "merge keys": mergeBomb} {
		t.Run(name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var w diag.Warnings
			c, err := LoadBytes("bomb.yaml", []byte(doc), Options{}, &w)
			runtime.ReadMemStats(&after)
			if err == nil || c != nil {
				t.Fatalf("bomb accepted")
			}
			if !strings.HasPrefix(err.Error(), "bomb.yaml:") || !strings.Contains(err.Error(), "more than 1048576 nodes") {
				t.Errorf("error = %v", err)
			}
			// The document is a few hundred bytes; rejecting it must cost
			// no more than a few hundred KiB, never the expansion.
			t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("rejecting the bomb allocated %d bytes", alloc)
			}
		})
	}
}

// A document that uses aliases sensibly stays well under the limits.
func TestAliasesWithinLimits(t *testing.T) {
	doc := strings.Replace(billionLaughs, "  d: &d", "  stop: 1\n  d0: &d", 1)
	doc = doc[:strings.Index(doc, "  d0:")] + "channels: []\n"
	c, err := LoadBytes("ok.yaml", []byte(doc), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Pricing.Data["c"].([]any)); got != 9 {
		t.Errorf("expanded list has %d items", got)
	}
}
