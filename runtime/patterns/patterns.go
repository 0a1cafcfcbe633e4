// Package patterns keeps routerd's learned request patterns: a bounded top-K
// of the model strings clients ask for, counted with the Space-Saving
// heavy-hitters algorithm (K fixed slots; a new string takes the slot of the
// least counted one and inherits its count as its error bound), so memory
// never grows with the variety of strings sent. Record does not allocate.
//
// The top entries are persisted as a small JSON file in the cache folder
// (request_patterns.json), which `routerc compile` reads to add the most
// requested model strings to the prewarm list (routing.learned_prewarm).
package patterns

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"smartrouter/format/reqpatterns"
)

// Limits.
const (
	DefaultK = 64                     // slots of a Sketch when New is given 0
	MaxK     = reqpatterns.MaxEntries // slots at most
	MaxKey   = reqpatterns.MaxModel   // longest model string tracked, in bytes; longer ones are not counted
)

// FileName is the patterns file in the cache folder.
const FileName = reqpatterns.FileName

type slot struct {
	hash  uint64
	count uint64
	err   uint64 // over-estimation bound inherited from the evicted entry
	n     uint8
	key   [MaxKey]byte
}

// Sketch is a Space-Saving top-K counter of model strings, safe for
// concurrent use.
type Sketch struct {
	mu    sync.Mutex
	seed  maphash.Seed
	slots []slot
	used  int
	total uint64 // every Record counted, tracked or not
	long  uint64 // strings too long (or empty) to track

	saveMu sync.Mutex
	saved  []string // the ranking last written by Save
}

// New returns a Sketch with k slots (0: DefaultK; at most MaxK).
func New(k int) *Sketch {
	if k <= 0 {
		k = DefaultK
	}
	k = min(k, MaxK)
	return &Sketch{seed: maphash.MakeSeed(), slots: make([]slot, k)}
}

// Record counts one request for model. It does not allocate.
func (s *Sketch) Record(model string) {
	if s == nil {
		return
	}
	s.add(model, 1, 0)
}

func (s *Sketch) add(model string, count, errBound uint64) {
	h := maphash.String(s.seed, model)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total = satAdd(s.total, count)
	if len(model) == 0 || len(model) > MaxKey {
		s.long = satAdd(s.long, count)
		return
	}
	for i := 0; i < s.used; i++ {
		sl := &s.slots[i]
		if sl.hash == h && string(sl.key[:sl.n]) == model {
			sl.count = satAdd(sl.count, count)
			sl.err = satAdd(sl.err, errBound)
			return
		}
	}
	var sl *slot
	if s.used < len(s.slots) {
		sl = &s.slots[s.used]
		s.used++
		sl.count, sl.err = count, errBound
	} else {
		// Space-Saving: replace the least counted entry; the newcomer may
		// have been seen up to that many times before.
		sl = &s.slots[0]
		for i := 1; i < len(s.slots); i++ {
			if s.slots[i].count < sl.count {
				sl = &s.slots[i]
			}
		}
		sl.err = satAdd(sl.count, errBound)
		sl.count = satAdd(sl.count, count)
	}
	sl.hash = h
	sl.n = uint8(copy(sl.key[:], model))
}

// Entry is one tracked model string. Count over-estimates the true count
// by at most Error.
type Entry = reqpatterns.Entry

// Entries returns the tracked strings, most counted first (ties by name),
// at most n of them (n <= 0: all).
func (s *Sketch) Entries(n int) []Entry {
	s.mu.Lock()
	out := make([]Entry, 0, s.used)
	for i := 0; i < s.used; i++ {
		sl := &s.slots[i]
		out = append(out, Entry{Model: string(sl.key[:sl.n]), Count: sl.count, Error: sl.err})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Model, b.Model)
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// Stats are the sketch's totals.
type Stats struct {
	K         int    `json:"k"`
	Tracked   int    `json:"tracked"`
	Total     uint64 `json:"total"`     // requests counted
	Untracked uint64 `json:"untracked"` // empty or longer than MaxKey bytes
}

// Stats returns the totals.
func (s *Sketch) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{K: len(s.slots), Tracked: s.used, Total: s.total, Untracked: s.long}
}

func satAdd(a, b uint64) uint64 {
	if c := a + b; c >= a {
		return c
	}
	return ^uint64(0)
}

// Merge adds persisted entries (from an earlier run) to the sketch.
func (s *Sketch) Merge(es []Entry) {
	for _, e := range es {
		s.add(e.Model, e.Count, e.Error)
	}
}
