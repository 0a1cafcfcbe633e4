package cache

import (
	"math"
	"math/bits"

	"smartrouter/format"
)

// Scales from a source price unit to the snapshot unit, pico-USD per token:
// the stored integer is value × 10^scale.
const (
	ScalePerToken    = 12 // USD per token (discovery caches, raw_pricing, cost_per_token)
	ScalePerThousand = 9  // USD per 1,000 tokens (pricing.*_per_1k)
	ScalePerMillion  = 6  // USD per 1,000,000 tokens (unified pricing files, pricing_cache)
)

// DefaultCNYToUSD is the rate used for prices in CNY when the caller passes
// none: 1 CNY = 0.14 USD, the rate the Python router's own pricing files use.
const DefaultCNYToUSD = 0.14

// decimal is a base-10 number kept exactly enough for rounding to an
// integer of up to 20 digits: value = 0.d[0]d[1]d[2]... × 10^point, with
// d[0] != 0. Only the first len(d) significant digits are stored; as results
// have at most 20 integer digits and round halves up, the digits after the
// 21st never change a result (inexact records that a non-zero one existed).
type decimal struct {
	neg     bool
	zero    bool
	d       [21]byte
	nd      int
	point   int
	inexact bool
}

// parseDecimal parses a JSON number (a leading '+' is also accepted, for
// numeric strings). It reports false for anything else.
func parseDecimal(b []byte) (decimal, bool) {
	var x decimal
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		x.neg = b[i] == '-'
		i++
	}
	seen := false // a non-zero digit was seen
	add := func(c byte, frac bool) {
		if !seen {
			if c == '0' {
				if frac {
					x.point--
				}
				return
			}
			seen = true
		}
		if !frac {
			x.point++
		}
		switch {
		case x.nd < len(x.d):
			x.d[x.nd] = c - '0'
			x.nd++
		case c != '0':
			x.inexact = true
		}
	}
	start := i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		add(b[i], false)
	}
	if n := i - start; n == 0 || n > 1 && b[start] == '0' {
		return x, false // no integer digits, or a leading zero
	}
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			add(b[i], true)
		}
		if i == fs {
			return x, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		e := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 1_000_000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if i == es {
			return x, false
		}
		if eneg {
			e = -e
		}
		x.point += e
	}
	if i != len(b) {
		return x, false
	}
	if !seen {
		x = decimal{zero: true}
	}
	return x, true
}

// toUnits returns round(value × 10^scale) as a non-negative integer, rounding
// halves up. ok is false when the value is negative or does not fit below
// format.PriceUnknown.
func (x decimal) toUnits(scale int) (uint64, bool) {
	if x.zero {
		return 0, true
	}
	if x.neg {
		return 0, false
	}
	k := x.point + scale // digits before the decimal point
	if k > 20 {
		return 0, false
	}
	if k < 0 {
		return 0, true // below 0.1
	}
	var v uint64
	for i := 0; i < k; i++ {
		var c uint64
		if i < x.nd {
			c = uint64(x.d[i])
		}
		hi, lo := bits.Mul64(v, 10)
		lo, carry := bits.Add64(lo, c, 0)
		if hi != 0 || carry != 0 {
			return 0, false
		}
		v = lo
	}
	if k < x.nd && x.d[k] >= 5 {
		v++
		if v == 0 {
			return 0, false
		}
	}
	if v == format.PriceUnknown {
		return 0, false
	}
	return v, true
}

// integer returns the value when it is a whole number that fits in uint64.
func (x decimal) integer() (uint64, bool) {
	if x.zero {
		return 0, true
	}
	if x.neg || x.inexact || x.point <= 0 {
		return 0, false
	}
	for i := x.point; i < x.nd; i++ {
		if x.d[i] != 0 {
			return 0, false
		}
	}
	return x.toUnits(0)
}

// convert turns a price in a source unit into pico-USD: value × 10^scale,
// then × rate (1 for USD). ok is false for negative or out-of-range values.
func (d decimal) convert(scale int, rate float64) (uint64, bool) {
	v, ok := d.toUnits(scale)
	if !ok {
		return 0, false
	}
	if rate == 1 || v == 0 {
		return v, true
	}
	f := math.Round(float64(v) * rate)
	if !(f >= 0) || f >= 1.8446744073709552e19 {
		return 0, false
	}
	return uint64(f), true
}

// Price is a model's price in the snapshot unit. Input and Output are
// pico-USD per token (= micro-USD per million tokens); Request is pico-USD per
// request and Image pico-USD per image. format.PriceUnknown marks a price the
// file did not give (or gave in a form that was skipped with a warning).
type Price struct {
	Input   uint64
	Output  uint64
	Request uint64
	Image   uint64
}

// UnknownPrice returns a Price with every field unknown.
func UnknownPrice() Price {
	return Price{format.PriceUnknown, format.PriceUnknown, format.PriceUnknown, format.PriceUnknown}
}

// Known reports whether the input or the output price is known.
func (p Price) Known() bool {
	return p.Input != format.PriceUnknown || p.Output != format.PriceUnknown
}

// ConvertPrice converts a decimal price text (a JSON number or a numeric
// string such as "0.0000015") to the snapshot unit: value × 10^scale × rate,
// rounded to the nearest integer, halves up. It reports false for text that
// is not a number, a negative value, NaN/Infinity or a value too large. The
// compiler uses it for prices it reads from YAML so that every price in the
// snapshot is rounded the same way.
func ConvertPrice(text string, scale int, rate float64) (uint64, bool) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return 0, false
	}
	d, ok := parseDecimal([]byte(text))
	if !ok {
		return 0, false
	}
	return d.convert(scale, rate)
}
