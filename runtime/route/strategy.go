package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"smartrouter/format"
)

// Field names one score of a pair.
type Field uint8

// The scores a strategy can weigh, each in 0..1.
const (
	FieldCost        Field = iota // 1 − min(estimated USD / 0.05, 1); a free pair is 1
	FieldSpeed                    // from the channel's live latency average
	FieldQuality                  // quality table (precomputed)
	FieldReliability              // channel health
	FieldParameter                // parameter count (precomputed)
	FieldContext                  // context length (precomputed)
	FieldFree                     // 1.0 free, else 0.1 (precomputed)
	FieldLocal                    // 1.0 local, 0.8 local-looking id, else 0.1 (precomputed)
	numFields
)

var fieldNames = [numFields]string{"cost", "speed", "quality", "reliability", "parameter", "context", "free", "local"}

func (f Field) String() string {
	if f < numFields {
		return fieldNames[f]
	}
	return "unknown"
}

// MarshalText makes a Field print as its name in JSON.
func (f Field) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// ParseField reads a score name, with or without the "_score" suffix, in any
// case: "cost", "cost_score", "Speed".
func ParseField(s string) (Field, bool) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "_score")
	for i, n := range fieldNames {
		if n == s {
			return Field(i), true
		}
	}
	return 0, false
}

// Scores are the component scores of one pair, indexed by Field.
type Scores [numFields]float64

// MarshalJSON writes the scores as an object keyed by field name.
func (s Scores) MarshalJSON() ([]byte, error) {
	m := make(map[string]float64, numFields)
	for i, v := range s {
		m[fieldNames[i]] = round6(v)
	}
	return json.Marshal(m)
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// Term is one weighted score of a strategy.
type Term struct {
	Field  Field   `json:"field"`
	Weight float64 `json:"weight"`
	Asc    bool    `json:"asc,omitempty"` // order: asc, the term uses 1 − score
}

// Strategy is a named weighting: total = Σ weight × score / Σ weight.
type Strategy struct {
	Name  string `json:"name"`
	Terms []Term `json:"terms"`
	sum   float64
	err   error // set when a configured strategy cannot be used
}

// Total returns the weighted score of s under the strategy.
func (st *Strategy) Total(s *Scores) float64 {
	var t float64
	for _, term := range st.Terms {
		v := s[term.Field]
		if term.Asc {
			v = 1 - v
		}
		t += term.Weight * v
	}
	return t / st.sum
}

// DefaultStrategy is used when neither the request nor the config names one.
const DefaultStrategy = "cost_first"

func builtin(name string, terms ...Term) *Strategy {
	st := &Strategy{Name: name, Terms: terms}
	for _, t := range terms {
		st.sum += t.Weight
	}
	return st
}

// Builtins returns the seven built-in strategies.
func Builtins() []*Strategy {
	const (
		c = FieldCost
		s = FieldSpeed
		q = FieldQuality
		r = FieldReliability
		p = FieldParameter
		x = FieldContext
		f = FieldFree
		l = FieldLocal
	)
	return []*Strategy{
		builtin("cost_first", Term{c, .40, false}, Term{p, .25, false}, Term{x, .20, false}, Term{s, .15, false}),
		builtin("free_first", Term{f, .50, false}, Term{c, .30, false}, Term{s, .15, false}, Term{r, .05, false}),
		builtin("local_first", Term{l, .60, false}, Term{s, .25, false}, Term{c, .10, false}, Term{r, .05, false}),
		builtin("cost_optimized", Term{c, .70, false}, Term{r, .20, false}, Term{s, .10, false}),
		builtin("speed_optimized", Term{s, .40, false}, Term{c, .30, false}, Term{p, .20, false}, Term{x, .10, false}),
		builtin("quality_optimized", Term{p, .40, false}, Term{x, .30, false}, Term{q, .20, false}, Term{c, .10, false}),
		builtin("balanced", Term{c, .30, false}, Term{p, .25, false}, Term{x, .20, false}, Term{s, .15, false}, Term{r, .10, false}),
	}
}

// compileStrategy turns a configured strategy into a usable one; a strategy
// with an unknown field, a negative or non-finite weight, or no positive
// weight is kept with an error that requests naming it receive.
func compileStrategy(cs format.Strategy) *Strategy {
	st := &Strategy{Name: cs.Name}
	for _, f := range cs.Fields {
		fld, ok := ParseField(f.Field)
		if !ok {
			st.err = fmt.Errorf("strategy %q: unknown field %q; use one of %s (optionally with _score)",
				cs.Name, f.Field, strings.Join(fieldNames[:], ", "))
			return st
		}
		if f.Weight < 0 || math.IsNaN(f.Weight) || math.IsInf(f.Weight, 0) {
			st.err = fmt.Errorf("strategy %q: field %q has weight %v; weights must be finite and >= 0", cs.Name, f.Field, f.Weight)
			return st
		}
		st.Terms = append(st.Terms, Term{Field: fld, Weight: f.Weight, Asc: f.Asc})
		st.sum += f.Weight
	}
	if !(st.sum > 0) || math.IsInf(st.sum, 0) {
		st.err = fmt.Errorf("strategy %q has no positive weight; give at least one field a weight > 0", cs.Name)
	}
	return st
}

// strategies maps names to strategies: the built-ins, then the configured
// ones, which add or override.
func strategies(settings *format.Settings) map[string]*Strategy {
	m := make(map[string]*Strategy, 7+len(settings.Strategies))
	for _, st := range Builtins() {
		m[st.Name] = st
	}
	for _, cs := range settings.Strategies {
		name := strings.TrimSpace(cs.Name)
		if name == "" {
			continue
		}
		cs.Name = name
		m[name] = compileStrategy(cs)
	}
	return m
}

// ErrUnknownStrategy is wrapped by *StrategyError; the server answers 400.
var ErrUnknownStrategy = errors.New("unknown strategy")

// StrategyError names a strategy that does not exist or cannot be used.
type StrategyError struct {
	Name  string
	Known []string // the usable names, sorted
	Err   error    // why a configured strategy cannot be used, or nil
}

func (e *StrategyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("strategy %q cannot be used: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("unknown strategy %q; use one of %s", e.Name, strings.Join(e.Known, ", "))
}

// Unwrap makes errors.Is(err, ErrUnknownStrategy) true.
func (e *StrategyError) Unwrap() error { return ErrUnknownStrategy }

func knownNames(m map[string]*Strategy) []string {
	out := make([]string, 0, len(m))
	for n, st := range m {
		if st.err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
