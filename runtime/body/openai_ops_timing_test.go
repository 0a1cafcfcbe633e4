package body

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkParseOpenAIEmbeddings: a batch of 64 texts of about 200
// characters each, the common shape of an indexing client.
func BenchmarkParseOpenAIEmbeddings(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"model":"text-embedding-3-small","encoding_format":"float","dimensions":512,"input":[`)
	for i := range 64 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Quote(strings.Repeat("chunk of a document to index ", 7)))
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseOpenAIEmbeddings(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseOpenAICompletion(b *testing.B) {
	body := []byte(`{"model":"gpt-3.5-turbo-instruct","prompt":"Write a tagline for an ice cream shop.","max_tokens":64,"temperature":0.7,"stream":true}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseOpenAICompletion(body); err != nil {
			b.Fatal(err)
		}
	}
}
