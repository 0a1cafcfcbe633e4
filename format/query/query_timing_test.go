package query

import "testing"

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("tag:qwen3,8b,!free,>=32ki"); err != nil {
			b.Fatal(err)
		}
	}
}
