package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Write encodes m (see Encode) and writes it to w in one call.
func Write(w io.Writer, m *Model) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("format: write snapshot: %w", err)
	}
	return nil
}

// Encode returns the snapshot bytes of m. It canonicalises a copy of m first
// (see Model.Canonicalize), so m is not modified, and the result depends only
// on the content of m: the same model always gives the same bytes. The tag
// dictionary and postings are derived from Pair.Tags.
func Encode(m *Model) ([]byte, error) {
	c := m.clone()
	if err := c.Canonicalize(); err != nil {
		return nil, err
	}
	w := &writer{m: c, st: newStrtab()}
	return w.encode()
}

type writer struct {
	m  *Model
	st *strtab
}

type section struct {
	id    uint32
	flags uint32
	body  []byte
}

func (w *writer) encode() ([]byte, error) {
	m := w.m
	secs := make([]section, 0, numSections)
	add := func(id uint32, body []byte) {
		var fl uint32
		if knownSections[id].required {
			fl = SectionRequired
		}
		secs = append(secs, section{id: id, flags: fl, body: body})
	}
	tagNames, postingsOf := w.collectTags()

	// The strings section is filled while the others are encoded, so it is
	// added last and moved into id order afterwards.
	add(SecSettings, w.settings())
	add(SecSources, w.sources())
	add(SecProviders, w.providers())
	add(SecChannels, w.channels())
	add(SecModels, w.models())
	add(SecPairs, w.pairs())
	add(SecModelIndex, w.modelIndex())
	dict, post, err := w.tags(tagNames, postingsOf)
	if err != nil {
		return nil, err
	}
	add(SecTagDict, dict)
	add(SecPostings, post)
	add(SecPrewarm, w.prewarm())
	add(SecKeyStates, w.keyStates())
	add(SecLimits, w.limits())
	add(SecUsage, w.usage())
	if w.st.err != nil {
		return nil, w.st.err
	}
	add(SecStrings, w.st.b)
	slices.SortFunc(secs, func(a, b section) int { return int(a.id) - int(b.id) })

	// Layout: header, table, sections, footer, each on SectionAlign.
	tableOff := uint64(HeaderSize)
	off := alignUp(tableOff+uint64(len(secs))*TableEntrySize, SectionAlign)
	offs := make([]uint64, len(secs))
	for i, s := range secs {
		offs[i] = off
		off = alignUp(off+uint64(len(s.body)), SectionAlign)
	}
	footerOff := off
	size := footerOff + FooterSize
	if size > math.MaxInt {
		return nil, errors.New("format: snapshot too large for this platform")
	}
	out := make([]byte, size)

	table := out[tableOff : tableOff+uint64(len(secs))*TableEntrySize]
	for i, s := range secs {
		copy(out[offs[i]:], s.body)
		e := table[i*TableEntrySize:]
		le.PutUint32(e[tOffID:], s.id)
		le.PutUint32(e[tOffFlags:], s.flags)
		le.PutUint64(e[tOffOffset:], offs[i])
		le.PutUint64(e[tOffLength:], uint64(len(s.body)))
		le.PutUint32(e[tOffCRC:], crc(s.body))
	}
	tcrc := crc(table)

	h := out[:HeaderSize]
	copy(h[hOffMagic:], Magic)
	le.PutUint16(h[hOffMajor:], Major)
	le.PutUint16(h[hOffMinor:], Minor)
	le.PutUint64(h[hOffFileSize:], size)
	le.PutUint64(h[hOffGeneration:], m.Generation)
	le.PutUint64(h[hOffBuildTime:], uint64(m.BuildTime))
	le.PutUint64(h[hOffFingerprint:], m.Fingerprint)
	le.PutUint64(h[hOffTableOff:], tableOff)
	le.PutUint32(h[hOffSectCount:], uint32(len(secs)))
	le.PutUint32(h[hOffTableCRC:], tcrc)
	le.PutUint32(h[hOffHeaderCRC:], crc(h[:hOffHeaderCRC]))

	f := out[footerOff:]
	copy(f[fOffMagic:], FooterMagic)
	le.PutUint64(f[fOffFileSize:], size)
	le.PutUint64(f[fOffTableOff:], tableOff)
	le.PutUint32(f[fOffTableCRC:], tcrc)
	le.PutUint32(f[fOffCRC:], crc(f[:fOffCRC]))
	return out, nil
}

var le = binary.LittleEndian

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// strtab deduplicates strings into the strings section. Offsets follow the
// order of first use, which the writer's fixed traversal makes deterministic.
type strtab struct {
	b   []byte
	idx map[string]uint64 // offset<<32 | length
	err error
}

func newStrtab() *strtab { return &strtab{idx: make(map[string]uint64)} }

func (t *strtab) ref(s string) (off, n uint32) {
	if s == "" {
		return 0, 0
	}
	if r, ok := t.idx[s]; ok {
		return uint32(r >> 32), uint32(r)
	}
	if uint64(len(t.b))+uint64(len(s)) > math.MaxUint32 {
		if t.err == nil {
			t.err = errors.New("format: strings exceed 4 GiB; the snapshot cannot hold this model")
		}
		return 0, 0
	}
	off, n = uint32(len(t.b)), uint32(len(s))
	t.b = append(t.b, s...)
	t.idx[s] = uint64(off)<<32 | uint64(n)
	return off, n
}

// enc appends little-endian values; strings become references into st.
type enc struct {
	b  []byte
	st *strtab
}

func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) u16(v uint16) { e.b = le.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32) { e.b = le.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = le.AppendUint64(e.b, v) }
func (e *enc) i32(v int32)  { e.u32(uint32(v)) }
func (e *enc) i64(v int64)  { e.u64(uint64(v)) }
func (e *enc) f32(v float32) {
	e.u32(math.Float32bits(v))
}
func (e *enc) f64(v float64) { e.u64(math.Float64bits(v)) }
func (e *enc) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *enc) str(s string) {
	off, n := e.st.ref(s)
	e.u32(off)
	e.u32(n)
}

// count writes a list length, failing the encode when it exceeds a u32.
func (e *enc) count(n int) {
	if uint64(n) > math.MaxUint32 && e.st.err == nil {
		e.st.err = errors.New("format: a list has more than 2^32-1 entries; the snapshot cannot hold this model")
	}
	e.u32(uint32(n))
}

func (e *enc) strs(l []string) {
	e.count(len(l))
	for _, s := range l {
		e.str(s)
	}
}
func (e *enc) secret(s Secret) {
	e.str(s.Env)
	e.str(s.Literal)
}

// fixed starts a fixed-record section of n records of size rec.
func (w *writer) fixed(n, rec int) *enc {
	e := &enc{b: make([]byte, 0, recHeaderSize+n*rec), st: w.st}
	e.count(n)
	e.u32(uint32(rec))
	return e
}

func (w *writer) settings() []byte {
	s := &w.m.Settings
	e := &enc{st: w.st}
	e.str(s.Host)
	e.u16(s.Port)
	e.bool(s.Debug)
	e.strs(s.CORSOrigins)
	e.u32(s.RequestTimeoutMs)
	e.u64(s.MaxRequestSize)
	e.u32(s.ConnectTimeoutMs)
	e.u32(s.ReadTimeoutMs)
	e.bool(s.AuthEnabled)
	e.secret(s.APIToken)
	e.bool(s.AdminEnabled)
	e.secret(s.AdminToken)
	e.str(s.DefaultStrategy)
	e.bool(s.EnableFallback)
	e.u32(s.MaxRetryAttempts)
	e.u32(s.ErrorCooldownSec)
	e.u32(s.HealthCheckIntervalSec)
	e.bool(s.StripReasoning)
	e.bool(s.ResponseMetadata)
	e.u64(s.DefaultInputPrice)
	e.u64(s.DefaultOutputPrice)
	e.u64(s.MinContextLength)
	e.u64(s.MinParamsM)
	e.bool(s.ExcludeEmbeddingModels)
	e.bool(s.ExcludeVisionOnlyModels)
	e.count(len(s.Quality))
	for _, q := range s.Quality {
		e.str(q.Substring)
		e.f32(q.Score)
	}
	e.count(len(s.Strategies))
	for _, st := range s.Strategies {
		e.str(st.Name)
		e.count(len(st.Fields))
		for _, f := range st.Fields {
			e.str(f.Field)
			e.f64(f.Weight)
			e.bool(f.Asc)
		}
	}
	e.count(len(s.Tasks))
	for _, t := range s.Tasks {
		e.str(t.Name)
		e.bool(t.Enabled)
		e.u32(t.IntervalSec)
		e.bool(t.RunOnStartup)
	}
	return e.b
}

// limits is the limits section (format 1.1): settings added after 1.0,
// which cannot go onto the end of the settings section.
func (w *writer) limits() []byte {
	s := &w.m.Settings
	e := &enc{st: w.st}
	e.u64(s.MemoryLimitBytes)
	e.u32(s.ConfigLoadTimeoutMs)
	e.u32(s.CacheLoadTimeoutMs)
	e.count(len(s.Tasks))
	for _, t := range s.Tasks {
		e.u32(t.MaxConcurrent)
	}
	return e.b
}

// usage is the usage ledger settings section (format 1.2).
func (w *writer) usage() []byte {
	u := &w.m.Settings.Usage
	e := &enc{st: w.st}
	e.bool(u.Configured)
	e.bool(u.Enabled)
	e.str(u.Path)
	e.u32(u.RetentionDays)
	e.u32(u.QueueSize)
	return e.b
}

func (w *writer) sources() []byte {
	e := w.fixed(len(w.m.Sources), sourceRecSize)
	for _, s := range w.m.Sources {
		e.str(s.Path)
		e.i64(s.Size)
		e.i64(s.ModTime)
		e.u64(s.Hash)
	}
	return e.b
}

func (w *writer) providers() []byte {
	e := &enc{st: w.st}
	e.count(len(w.m.Providers))
	for _, p := range w.m.Providers {
		e.str(p.Key)
		e.str(p.Name)
		e.str(p.DisplayName)
		e.str(p.Adapter)
		e.str(p.BaseURL)
		e.u8(p.AuthType)
		e.u32(p.RateLimit)
		e.strs(p.Capabilities)
	}
	return e.b
}

func (w *writer) channels() []byte {
	e := &enc{st: w.st}
	e.count(len(w.m.Channels))
	for _, c := range w.m.Channels {
		e.str(c.ID)
		e.str(c.Name)
		e.u32(c.Provider)
		e.str(c.ModelName)
		e.secret(c.APIKey)
		e.strs(c.BaseURLs)
		e.bool(c.Enabled)
		e.i32(c.Priority)
		e.f64(c.Weight)
		e.u64(c.DailyLimit)
		e.u32(c.MinRequestIntervalMs)
		e.f32(c.SpeedScore)
		e.f64(c.CurrencyRate)
		e.strs(c.Tags)
		e.strs(c.Capabilities)
		e.count(len(c.Aliases))
		for _, a := range c.Aliases {
			e.str(a.Standard)
			e.str(a.Target)
		}
	}
	return e.b
}

func (w *writer) models() []byte {
	m := w.m
	e := w.fixed(len(m.Models), modelRecSize)
	first := 0
	for i, mi := range m.Models {
		n := first
		for n < len(m.Pairs) && m.Pairs[n].Model == uint32(i) {
			n++
		}
		e.str(mi.Name)
		e.str(mi.OwnedBy)
		e.i64(mi.Created)
		e.u32(uint32(first))
		e.u32(uint32(n - first))
		first = n
	}
	return e.b
}

func (w *writer) pairs() []byte {
	e := w.fixed(len(w.m.Pairs), pairRecSize)
	for i := range w.m.Pairs {
		p := &w.m.Pairs[i]
		e.u32(p.Channel)
		e.u32(p.Model)
		e.u64(p.InputPrice)
		e.u64(p.OutputPrice)
		e.u64(p.RequestPrice)
		e.u64(p.ContextLength)
		e.u64(p.MaxOutputTokens)
		e.u64(p.ParamsM)
		e.u32(p.Caps)
		e.u32(p.Flags)
		e.f32(p.ParameterScore)
		e.f32(p.ContextScore)
		e.f32(p.QualityScore)
		e.f32(p.FreeScore)
		e.f32(p.LocalScore)
		e.u32(0)
	}
	return e.b
}

// indexSlots is the slot count of the model-name hash index: the smallest
// power of two of at least twice the model count (load factor <= 1/2), so
// there is always an empty slot to stop a probe.
func indexSlots(n int) int {
	if n == 0 {
		return 1
	}
	return 1 << bits.Len(uint(2*n-1))
}

func (w *writer) modelIndex() []byte {
	ms := w.m.Models
	nslots := indexSlots(len(ms))
	slots := make([]uint64, nslots) // low 32: ordinal+1, high 32: hash>>32
	mask := uint64(nslots - 1)
	for i, mi := range ms {
		h := xxhash.Sum64String(mi.Name)
		for j := h & mask; ; j = (j + 1) & mask {
			if slots[j] == 0 {
				slots[j] = uint64(i+1) | h>>32<<32
				break
			}
		}
	}
	e := w.fixed(nslots, indexRecSize)
	for _, s := range slots {
		e.u64(s)
	}
	return e.b
}

// collectTags gathers the distinct tags of all pairs, sorted, and for each
// the ascending pair ordinals carrying it.
func (w *writer) collectTags() ([]string, map[string][]uint32) {
	post := make(map[string][]uint32)
	for i := range w.m.Pairs {
		for _, t := range w.m.Pairs[i].Tags {
			post[t] = append(post[t], uint32(i))
		}
	}
	names := make([]string, 0, len(post))
	for t := range post {
		names = append(names, t)
	}
	slices.Sort(names)
	return names, post
}

func (w *writer) tags(names []string, postingsOf map[string][]uint32) (dict, post []byte, err error) {
	e := w.fixed(len(names), tagRecSize)
	for _, t := range names {
		ords := postingsOf[t]
		bb := encodePostings(ords)
		off := len(post)
		if uint64(off)+uint64(len(bb)) > math.MaxUint32 {
			return nil, nil, errors.New("format: tag postings exceed 4 GiB; the snapshot cannot hold this model")
		}
		post = append(post, bb...)
		for len(post)%PostingAlign != 0 {
			post = append(post, 0)
		}
		e.str(t)
		e.count(len(ords))
		e.u32(uint32(off))
		e.count(len(bb))
		e.u32(0)
	}
	return e.b, post, nil
}

func (w *writer) prewarm() []byte {
	pw := w.m.Prewarm
	total := 0
	for _, p := range pw {
		total += len(p.Pairs)
	}
	e := w.fixed(len(pw), prewarmRecSize)
	e.b = slices.Grow(e.b, 4*total)
	first := 0
	for _, p := range pw {
		e.str(p.Query)
		e.u32(uint32(first))
		e.count(len(p.Pairs))
		first += len(p.Pairs)
	}
	for _, p := range pw {
		for _, o := range p.Pairs {
			e.u32(o)
		}
	}
	return e.b
}

func (w *writer) keyStates() []byte {
	e := w.fixed(len(w.m.KeyStates), keyRecSize)
	for _, k := range w.m.KeyStates {
		e.u32(k.Channel)
		e.u32(k.LatencyMs)
		e.str(k.ErrorType)
		e.i64(k.Timestamp)
		e.u32(k.ConsecutiveFailures)
		e.f32(k.HealthScore)
		e.u16(k.StatusCode)
		e.bool(k.Valid)
		e.b = append(e.b, 0, 0, 0, 0, 0)
	}
	return e.b
}

// encodePostings writes ascending, distinct pair ordinals in roaring's
// portable serialisation without run containers (the reader accepts arrays
// and bitmaps only). The roaring package itself turns a full 65,536-value
// block into a run container, so the bytes are written here, by hand: the
// no-run cookie, the container count, each container's key and cardinality-1,
// the offset table, then each container (a sorted uint16 array up to 4,096
// values, a 1,024-word bitmap above).
func encodePostings(ords []uint32) []byte {
	type span struct{ key, from, to int } // ords[from:to] share key
	var spans []span
	for i := 0; i < len(ords); {
		k := int(ords[i] >> 16)
		j := i
		for j < len(ords) && int(ords[j]>>16) == k {
			j++
		}
		spans = append(spans, span{k, i, j})
		i = j
	}
	n := len(spans)
	size := 8 + 8*n
	for _, sp := range spans {
		if sp.to-sp.from > roaringArrayMax {
			size += roaringBitmapBytes
		} else {
			size += 2 * (sp.to - sp.from)
		}
	}
	b := make([]byte, 8+8*n, size)
	le.PutUint32(b, roaringNoRunCookie)
	le.PutUint32(b[4:], uint32(n))
	pos := 8 + 8*n
	for k, sp := range spans {
		c := sp.to - sp.from
		le.PutUint16(b[8+4*k:], uint16(sp.key))
		le.PutUint16(b[10+4*k:], uint16(c-1))
		le.PutUint32(b[8+4*n+4*k:], uint32(pos))
		if c > roaringArrayMax {
			pos += roaringBitmapBytes
		} else {
			pos += 2 * c
		}
	}
	for _, sp := range spans {
		vals := ords[sp.from:sp.to]
		if len(vals) > roaringArrayMax {
			var words [roaringBitmapBytes / 8]uint64
			for _, v := range vals {
				lo := v & 0xffff
				words[lo>>6] |= 1 << (lo & 63)
			}
			for _, w := range words {
				b = le.AppendUint64(b, w)
			}
			continue
		}
		for _, v := range vals {
			b = le.AppendUint16(b, uint16(v))
		}
	}
	return b
}
