package cache

import (
	"bytes"
	"errors"
	"math/big"
	"testing"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// checkErr asserts that a reader's error is positioned inside the input.
func checkErr(t *testing.T, err error, n int) {
	t.Helper()
	if err == nil {
		return
	}
	var de *diag.Error
	if !errors.As(err, &de) {
		t.Fatalf("error is not a *diag.Error: %v", err)
	}
	if de.Pos.Offset < 0 || de.Pos.Offset > int64(n) || de.Pos.JSONPath == "" || de.Pos.JSONPath[0] != '$' {
		t.Fatalf("bad position %+v for %d bytes", de.Pos, n)
	}
}

func checkPrice(t *testing.T, p Price) {
	t.Helper()
	for _, v := range []uint64{p.Input, p.Output, p.Request, p.Image} {
		if v != format.PriceUnknown && v > 1<<63 {
			t.Fatalf("implausible price %d", v)
		}
	}
}

func FuzzDiscovery(f *testing.F) {
	f.Add([]byte(sampleDiscovery))
	f.Add([]byte(`{"a": "x", "b": {"models": [1, "m"], "models_data": {"m": {"pricing": {"prompt": "1e-6"}}}}}`))
	f.Add([]byte(`{"a": {"models_data": {"m": {"pricing": {"prompt": -1, "completion": NaN}}}, "response_data": [[[{}]]]}}`))
	f.Add([]byte(`{"a": {"model_count": 1e99, "last_updated": 17e8, "status": "error"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := &diag.Warnings{}
		err := DecodeDiscovery(bytes.NewReader(b), "d.json", w, func(key string, e *DiscoveryEntry) error {
			if e.Key != key {
				t.Fatalf("key %q vs %q", e.Key, key)
			}
			for i := range e.ModelsData {
				checkPrice(t, e.ModelsData[i].Price)
				if e.Data(e.ModelsData[i].ID) == nil {
					t.Fatalf("Data(%q) is nil", e.ModelsData[i].ID)
				}
			}
			if id, h := SplitKey(key); h != "" && id+"_"+h != key || h == "" && id != key {
				t.Fatalf("SplitKey(%q) = %q, %q", key, id, h)
			}
			return nil
		})
		checkErr(t, err, len(b))
	})
}

func FuzzPricing(f *testing.F) {
	f.Add([]byte(unifiedUSD), false)
	f.Add([]byte(unifiedCNYRaw), false)
	f.Add([]byte(unifiedCNYConverted), false)
	f.Add([]byte(pricingCache), true)
	f.Add([]byte(`{"m": {"input": "1e-400", "raw_pricing": {"prompt": "99999999999999999999999"}}}`), true)
	f.Fuzz(func(t *testing.T, b []byte, cacheFormat bool) {
		var tab *PriceTable
		var err error
		if cacheFormat {
			tab, err = DecodePricingCache(bytes.NewReader(b), "p.json", nil)
		} else {
			tab, err = DecodeUnifiedPricing(bytes.NewReader(b), "p.json", PricingOptions{CNYToUSD: 0.14}, nil)
		}
		checkErr(t, err, len(b))
		if err != nil {
			return
		}
		for i := range tab.Models {
			checkPrice(t, tab.Models[i].Price)
			if _, ok := tab.Lookup(tab.Models[i].ID); !ok {
				t.Fatalf("Lookup(%q) failed", tab.Models[i].ID)
			}
		}
	})
}

func FuzzKeyValidation(f *testing.F) {
	f.Add([]byte(keyValidationDoc))
	f.Add([]byte(`{"validation_results": {"a": {"is_valid": false, "latency_ms": -1, "status_code": 1e9}}, "key_status": {"a": {"health_score": NaN}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kv, err := DecodeKeyValidation(bytes.NewReader(b), "k.json", nil)
		checkErr(t, err, len(b))
		if err != nil {
			return
		}
		for _, v := range kv.Verdicts {
			if kv.Lookup(v.ChannelID) == nil {
				t.Fatalf("Lookup(%q) is nil", v.ChannelID)
			}
			if v.HealthScore != -1 && (v.HealthScore < 0 || v.HealthScore > 1) {
				t.Fatalf("health score %v", v.HealthScore)
			}
		}
	})
}

func FuzzConvertPrice(f *testing.F) {
	for _, s := range []string{"0.0000015", "1e-6", "-1", "1e400", "0.5", "18446744.073709551615"} {
		f.Add(s, 12)
	}
	f.Fuzz(func(t *testing.T, s string, scale int) {
		if scale < 0 || scale > 12 {
			return
		}
		v, ok := ConvertPrice(s, scale, 1)
		if !ok {
			return
		}
		if v == format.PriceUnknown {
			t.Fatalf("%q converted to the unknown marker", s)
		}
		// Exact reference: floor(x × 10^scale + 1/2).
		r, rok := new(big.Rat).SetString(s)
		if !rok {
			// big.Rat refuses exponents beyond int range; such values are
			// zero or too large, and the latter are refused above.
			if v != 0 {
				t.Fatalf("%q converted to %d", s, v)
			}
			return
		}
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
		r.Add(r, big.NewRat(1, 2))
		want := new(big.Int).Quo(r.Num(), r.Denom())
		if !want.IsUint64() || want.Uint64() != v {
			t.Fatalf("ConvertPrice(%q, %d) = %d, want %s", s, scale, v, want)
		}
	})
}
