package config

import (
	"fmt"
	"strings"
	"testing"
)

func BenchmarkLoadTestdata(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Load("testdata/python", Options{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadBytes1000 decodes a router_config.yaml with 1000 channels.
func BenchmarkLoadBytes1000(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(providersYAML + "channels:\n")
	for i := range 1000 {
		fmt.Fprintf(&sb, "  - id: ch%d\n    provider: openai\n    model_name: auto\n    api_key: ${KEY_%d}\n"+
			"    tags: [free, fast]\n    configured_models: [m1, m2, m3]\n    cost_per_token: {input: 0.000001, output: 0.000002}\n"+
			"    model_aliases: {std: m1}\n    priority: %d\n", i, i, i%5)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadBytes(MainFile, data, Options{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
