package cache

import (
	"math"
	"testing"
)

func TestConvertPrice(t *testing.T) {
	tests := []struct {
		text  string
		scale int
		rate  float64
		want  uint64
		ok    bool
	}{
		// USD per token → pico-USD per token.
		{"0.0000015", ScalePerToken, 1, 1_500_000, true},
		{"1.5e-6", ScalePerToken, 1, 1_500_000, true},
		{"0.00000015", ScalePerToken, 1, 150_000, true},
		{"1.5E-07", ScalePerToken, 1, 150_000, true},
		{"0", ScalePerToken, 1, 0, true},
		{"-0", ScalePerToken, 1, 0, true},
		{"0.0", ScalePerToken, 1, 0, true},
		{"+0.000002", ScalePerToken, 1, 2_000_000, true},
		// Rounding to the nearest pico-USD, halves up.
		{"0.0000000000005", ScalePerToken, 1, 1, true},
		{"0.0000000000004999", ScalePerToken, 1, 0, true},
		{"0.0000000000015", ScalePerToken, 1, 2, true},
		{"0.00000000000249999999999999999999", ScalePerToken, 1, 2, true},
		{"1e-30", ScalePerToken, 1, 0, true},
		// USD per million tokens → the same unit (micro-USD per million).
		{"0.15", ScalePerMillion, 1, 150_000, true},
		{"0.6", ScalePerMillion, 1, 600_000, true},
		{"15", ScalePerMillion, 1, 15_000_000, true},
		{"0.0000005", ScalePerMillion, 1, 1, true},
		// USD per thousand tokens.
		{"0.002", ScalePerThousand, 1, 2_000_000, true},
		// CNY per million tokens at 0.14.
		{"4", ScalePerMillion, 0.14, 560_000, true},
		{"16", ScalePerMillion, DefaultCNYToUSD, 2_240_000, true},
		// Bad input.
		{"-1", ScalePerToken, 1, 0, false},
		{"-0.000001", ScalePerToken, 1, 0, false},
		{"1e400", ScalePerToken, 1, 0, false},
		{"20000000", ScalePerToken, 1, 0, false}, // 2e19 pico-USD does not fit
		{"18446744.073709551615", ScalePerToken, 1, 0, false},
		{"NaN", ScalePerToken, 1, 0, false},
		{"Infinity", ScalePerToken, 1, 0, false},
		{"abc", ScalePerToken, 1, 0, false},
		{"", ScalePerToken, 1, 0, false},
		{"01", ScalePerToken, 1, 0, false},
		{"1.", ScalePerToken, 1, 0, false},
		{".5", ScalePerToken, 1, 0, false},
		{"1e", ScalePerToken, 1, 0, false},
		{"0x10", ScalePerToken, 1, 0, false},
		{"1", ScalePerToken, math.NaN(), 0, false},
		{"1", ScalePerToken, -1, 0, false},
	}
	for _, tc := range tests {
		got, ok := ConvertPrice(tc.text, tc.scale, tc.rate)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ConvertPrice(%q, %d, %v) = %d, %v; want %d, %v", tc.text, tc.scale, tc.rate, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecimalInteger(t *testing.T) {
	tests := []struct {
		text string
		want uint64
		ok   bool
	}{
		{"131072", 131072, true},
		{"8192.0", 8192, true},
		{"1e3", 1000, true},
		{"1.5e3", 1500, true},
		{"0", 0, true},
		{"1.5", 0, false},
		{"-1", 0, false},
		{"1e30", 0, false},
	}
	for _, tc := range tests {
		d, ok := parseDecimal([]byte(tc.text))
		if !ok {
			t.Fatalf("parseDecimal(%q) failed", tc.text)
		}
		got, ok := d.integer()
		if ok != tc.ok || got != tc.want {
			t.Errorf("integer(%q) = %d, %v; want %d, %v", tc.text, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPriceKnown(t *testing.T) {
	p := UnknownPrice()
	if p.Known() {
		t.Fatal("all-unknown price reports Known")
	}
	p.Output = 0
	if !p.Known() {
		t.Fatal("price with a known output reports unknown")
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTP 503: upstream unavailable", "HTTP 503: upstream unavailable"},
		{"HTTP 401: Incorrect API key provided: sk-proj-abc123", "HTTP 401: Incorrect API key provided: [redacted]"},
		{"key gsk_0123456789abcdefghijKLMNOP rejected", "key [redacted] rejected"},
		{"model meta-llama/llama-3.1-8b-instruct failed", "model meta-llama/llama-3.1-8b-instruct failed"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
