package format

import (
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// A tag carried by whole 65,536-pair blocks is what the roaring package turns
// into run containers; the writer must still produce run-free postings that
// Open accepts, with the same members roaring would hold.
func TestPostingsFullBlocks(t *testing.T) {
	cases := map[string]func(i uint32) bool{
		"every pair":      func(uint32) bool { return true },
		"first block":     func(i uint32) bool { return i < 1<<16 },
		"every 3rd":       func(i uint32) bool { return i%3 == 0 },
		"sparse":          func(i uint32) bool { return i%977 == 0 },
		"array to bitmap": func(i uint32) bool { return i%16 == 0 || i > 140000 },
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			var ords []uint32
			for i := uint32(0); i < 150000; i++ {
				if in(i) {
					ords = append(ords, i)
				}
			}
			want := roaring.BitmapOf(ords...)
			got := roaring.New()
			b := encodePostings(ords)
			if _, err := got.FromBuffer(b); err != nil {
				t.Fatal(err)
			}
			if !got.Equals(want) {
				t.Fatalf("postings differ: got %d members, want %d", got.GetCardinality(), want.GetCardinality())
			}
			if _, reason, err := openBitmap(b, 150000, uint32(len(ords))); err != nil {
				t.Fatalf("reader refuses the writer's postings: %s: %v", reason, err)
			}
		})
	}
}
