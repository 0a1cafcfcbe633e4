package format

import (
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/cespare/xxhash/v2"
)

// Snapshot is a validated, read-only view of a snapshot file. Strings and
// bitmaps point into the buffer given to Open. A Snapshot is safe for
// concurrent use; nothing it returns may be modified.
type Snapshot struct {
	b    []byte
	hdr  Header
	secs []SectionInfo

	settings  Settings
	sources   []Source
	providers []Provider
	channels  []Channel
	keyStates []KeyState
	prewarm   []Prewarm

	strs   []byte
	models fixedSection
	pairs  fixedSection
	index  fixedSection
	mask   uint64
	tags   fixedSection

	postings []*roaring.Bitmap
	empty    *roaring.Bitmap
}

// secFn returns the bytes and file offset of a section by id (nil if absent).
type secFn = func(uint32) ([]byte, int64)

// Open validates b completely and returns a view of it. It checks the header,
// the section table and the footer (see OpenHeader), the CRC32C of every
// section, every reference between sections (strings, provider, channel,
// model and pair ordinals, model pair ranges, the model-name index, the
// prewarm lists and key states), that the tag dictionary is sorted and unique,
// and every postings bitmap. Unknown optional sections are skipped; an
// unknown required section is an error.
//
// Nothing is copied: strings and bitmaps are views into b, so b must stay
// alive and unmodified for as long as the Snapshot or anything it returned is
// in use. Every error is a *FormatError wrapping one of the Err* classes.
func Open(b []byte) (*Snapshot, error) {
	hdr, secs, err := openFrame(b)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{b: b, hdr: hdr, secs: secs, empty: roaring.New()}
	var byID [numKnown]*SectionInfo
	for i := range secs {
		si := &secs[i]
		if crc(b[si.Offset:si.Offset+si.Length]) != si.CRC {
			return nil, ferr(si.Name, int64(si.Offset), ErrChecksum, "section CRC32C does not match")
		}
		if isKnown(si.ID) {
			byID[si.ID] = si
		} else if si.Required {
			return nil, ferr(si.Name, int64(si.Offset), ErrUnknownSection,
				"section id "+strconv.FormatUint(uint64(si.ID), 10)+" is required but unknown to this build")
		}
	}
	for _, k := range knownSections {
		if k.id != 0 && k.required && byID[k.id] == nil {
			return nil, ferr(k.name, int64(le.Uint64(b[hOffTableOff:])), ErrCorrupt, "required section is missing from the section table")
		}
	}
	sec := func(id uint32) ([]byte, int64) {
		si := byID[id]
		if si == nil {
			return nil, 0
		}
		return b[si.Offset : si.Offset+si.Length], int64(si.Offset)
	}
	s.strs, _ = sec(SecStrings)

	steps := []func(secFn) error{
		s.openSettings, s.openSources, s.openProviders, s.openChannels,
		s.openPairsAndModels, s.openIndex, s.openTags, s.openPrewarm, s.openKeyStates, s.openLimits,
		s.openUsage,
	}
	for _, step := range steps {
		if err := step(sec); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Snapshot) dec(sec secFn, id uint32) *dec {
	b, base := sec(id)
	return &dec{b: b, base: base, sec: SectionName(id), strs: s.strs}
}

func (s *Snapshot) openSettings(sec secFn) error {
	d := s.dec(sec, SecSettings)
	st := &s.settings
	st.Host = d.str()
	st.Port = d.u16()
	st.Debug = d.bool()
	st.CORSOrigins = d.strList()
	st.RequestTimeoutMs = d.u32()
	st.MaxRequestSize = d.u64()
	st.ConnectTimeoutMs = d.u32()
	st.ReadTimeoutMs = d.u32()
	st.AuthEnabled = d.bool()
	st.APIToken = d.secret()
	st.AdminEnabled = d.bool()
	st.AdminToken = d.secret()
	st.DefaultStrategy = d.str()
	st.EnableFallback = d.bool()
	st.MaxRetryAttempts = d.u32()
	st.ErrorCooldownSec = d.u32()
	st.HealthCheckIntervalSec = d.u32()
	st.StripReasoning = d.bool()
	st.ResponseMetadata = d.bool()
	st.DefaultInputPrice = d.u64()
	st.DefaultOutputPrice = d.u64()
	st.MinContextLength = d.u64()
	st.MinParamsM = d.u64()
	st.ExcludeEmbeddingModels = d.bool()
	st.ExcludeVisionOnlyModels = d.bool()
	if n := d.count(strRefSize + 4); n > 0 {
		st.Quality = make([]QualityRule, n)
		for i := range st.Quality {
			st.Quality[i] = QualityRule{Substring: d.str(), Score: d.f32()}
		}
	}
	if n := d.count(strRefSize + 4); n > 0 {
		st.Strategies = make([]Strategy, n)
		for i := range st.Strategies {
			sg := &st.Strategies[i]
			sg.Name = d.str()
			if m := d.count(strRefSize + 9); m > 0 {
				sg.Fields = make([]StrategyField, m)
				for j := range sg.Fields {
					sg.Fields[j] = StrategyField{Field: d.str(), Weight: d.f64(), Asc: d.bool()}
				}
			}
		}
	}
	if n := d.count(strRefSize + 6); n > 0 {
		st.Tasks = make([]Task, n)
		for i := range st.Tasks {
			st.Tasks[i] = Task{Name: d.str(), Enabled: d.bool(), IntervalSec: d.u32(), RunOnStartup: d.bool()}
		}
	}
	return d.done()
}

// openLimits reads the limits section (format 1.1). A 1.0 file has none and
// leaves every limit unset.
func (s *Snapshot) openLimits(sec secFn) error {
	b, base := sec(SecLimits)
	if b == nil {
		return nil
	}
	d := &dec{b: b, base: base, sec: "limits", strs: s.strs}
	st := &s.settings
	st.MemoryLimitBytes = d.u64()
	st.ConfigLoadTimeoutMs = d.u32()
	st.CacheLoadTimeoutMs = d.u32()
	at := d.off
	n := d.count(4)
	if d.err == nil && n != len(st.Tasks) {
		d.fail(at, ErrCorrupt, "task limits count "+strconv.Itoa(n)+" differs from the "+strconv.Itoa(len(st.Tasks))+" tasks in settings")
	}
	if d.err == nil {
		for i := range n {
			st.Tasks[i].MaxConcurrent = d.u32()
		}
	}
	return d.done()
}

// openUsage reads the usage ledger settings (format 1.2). An older file has
// none: Usage stays zero (not configured), and the runtime's defaults apply.
func (s *Snapshot) openUsage(sec secFn) error {
	b, base := sec(SecUsage)
	if b == nil {
		return nil
	}
	d := &dec{b: b, base: base, sec: "usage", strs: s.strs}
	u := &s.settings.Usage
	u.Configured = d.bool()
	u.Enabled = d.bool()
	u.Path = d.str()
	u.RetentionDays = d.u32()
	u.QueueSize = d.u32()
	return d.done()
}

func (s *Snapshot) openSources(sec secFn) error {
	b, base := sec(SecSources)
	if b == nil {
		return nil
	}
	f, err := openFixed(b, base, "sources", sourceRecSize, true)
	if err != nil || f.n == 0 {
		return err
	}
	s.sources = make([]Source, f.n)
	for i := range s.sources {
		r := f.at(i)
		p, ok := strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
		if !ok {
			return ferr(f.name, f.off(i, 0), ErrOutOfBounds, "path string outside the strings section")
		}
		s.sources[i] = Source{Path: p, Size: int64(le.Uint64(r[8:])), ModTime: int64(le.Uint64(r[16:])), Hash: le.Uint64(r[24:])}
	}
	return nil
}

func (s *Snapshot) openProviders(sec secFn) error {
	d := s.dec(sec, SecProviders)
	if n := d.count(5*strRefSize + 5 + 4); n > 0 {
		s.providers = make([]Provider, n)
		for i := range s.providers {
			s.providers[i] = Provider{
				Key: d.str(), Name: d.str(), DisplayName: d.str(), Adapter: d.str(), BaseURL: d.str(),
				AuthType: d.u8(), RateLimit: d.u32(), Capabilities: d.strList(),
			}
		}
	}
	return d.done()
}

// channelMinSize is the encoded size of a channel with empty lists.
const channelMinSize = 3*strRefSize + 4 + 2*strRefSize + 4 + 1 + 4 + 8 + 8 + 4 + 4 + 8 + 4 + 4 + 4

func (s *Snapshot) openChannels(sec secFn) error {
	d := s.dec(sec, SecChannels)
	if n := d.count(channelMinSize); n > 0 {
		s.channels = make([]Channel, n)
		for i := range s.channels {
			c := &s.channels[i]
			c.ID = d.str()
			c.Name = d.str()
			at := d.off
			c.Provider = d.u32()
			if d.err == nil && uint64(c.Provider) >= uint64(len(s.providers)) {
				d.fail(at, ErrOutOfBounds, "channel "+strconv.Itoa(i)+" names provider "+strconv.FormatUint(uint64(c.Provider), 10)+
					" of "+strconv.Itoa(len(s.providers)))
			}
			c.ModelName = d.str()
			c.APIKey = d.secret()
			c.BaseURLs = d.strList()
			c.Enabled = d.bool()
			c.Priority = d.i32()
			c.Weight = d.f64()
			c.DailyLimit = d.u64()
			c.MinRequestIntervalMs = d.u32()
			c.SpeedScore = d.f32()
			c.CurrencyRate = d.f64()
			c.Tags = d.strList()
			c.Capabilities = d.strList()
			if m := d.count(2 * strRefSize); m > 0 {
				c.Aliases = make([]Alias, m)
				for j := range c.Aliases {
					c.Aliases[j] = Alias{Standard: d.str(), Target: d.str()}
				}
			}
		}
	}
	return d.done()
}

// openPairsAndModels checks the models (sorted, unique, contiguous pair
// ranges) and the pairs (model matches its range, channels ascending and in
// range within a model).
func (s *Snapshot) openPairsAndModels(sec secFn) error {
	b, base := sec(SecPairs)
	pf, err := openFixed(b, base, "pairs", pairRecSize, true)
	if err != nil {
		return err
	}
	b, base = sec(SecModels)
	mf, err := openFixed(b, base, "models", modelRecSize, true)
	if err != nil {
		return err
	}
	nch := uint64(len(s.channels))
	next := uint64(0)
	prev := ""
	for i := 0; i < mf.n; i++ {
		r := mf.at(i)
		name, ok1 := strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
		_, ok2 := strAt(s.strs, le.Uint32(r[8:]), le.Uint32(r[12:]))
		if !ok1 || !ok2 {
			return ferr(mf.name, mf.off(i, 0), ErrOutOfBounds, "string outside the strings section")
		}
		if name == "" || (i > 0 && name <= prev) {
			return ferr(mf.name, mf.off(i, 0), ErrCorrupt, "model names are not sorted, unique and non-empty")
		}
		prev = name
		first, cnt := uint64(le.Uint32(r[24:])), uint64(le.Uint32(r[28:]))
		if first != next {
			return ferr(mf.name, mf.off(i, 24), ErrCorrupt, "pair range does not follow the previous model's")
		}
		if cnt > uint64(pf.n)-first {
			return ferr(mf.name, mf.off(i, 28), ErrOutOfBounds, "pair range past the last pair")
		}
		next = first + cnt
		lastCh := int64(-1)
		for j := first; j < next; j++ {
			p := pf.at(int(j))
			ch, mo := le.Uint32(p), le.Uint32(p[4:])
			if uint64(mo) != uint64(i) {
				return ferr(pf.name, pf.off(int(j), 4), ErrCorrupt, "pair lies in the range of another model")
			}
			if uint64(ch) >= nch {
				return ferr(pf.name, pf.off(int(j), 0), ErrOutOfBounds, "channel ordinal "+strconv.FormatUint(uint64(ch), 10)+
					" of "+strconv.FormatUint(nch, 10))
			}
			if int64(ch) <= lastCh {
				return ferr(pf.name, pf.off(int(j), 0), ErrCorrupt, "pairs of a model are not sorted by channel")
			}
			lastCh = int64(ch)
		}
	}
	if next != uint64(pf.n) {
		return ferr(mf.name, mf.base, ErrCorrupt, "models cover "+strconv.FormatUint(next, 10)+" of "+strconv.Itoa(pf.n)+" pairs")
	}
	s.models, s.pairs = mf, pf
	return nil
}

// openIndex checks the model-name hash index: a power-of-two slot count with
// at least one empty slot (so probes stop), every model exactly once, each
// slot's hash tag equal to its model's, and every model reachable by linear
// probing from its home slot.
func (s *Snapshot) openIndex(sec secFn) error {
	b, base := sec(SecModelIndex)
	f, err := openFixed(b, base, "model_index", indexRecSize, true)
	if err != nil {
		return err
	}
	ns, nm := uint64(f.n), uint64(s.models.n)
	if ns == 0 || ns&(ns-1) != 0 || ns <= nm {
		return ferr(f.name, f.base, ErrCorrupt, "slot count "+strconv.FormatUint(ns, 10)+
			" is not a power of two above the model count "+strconv.FormatUint(nm, 10))
	}
	mask := ns - 1
	start := uint64(0) // an empty slot
	for ; start < ns; start++ {
		if le.Uint32(f.at(int(start))) == 0 {
			break
		}
	}
	if start == ns {
		return ferr(f.name, f.base, ErrCorrupt, "no empty slot, so a failed lookup would never stop")
	}
	seen := make([]uint64, (nm+63)/64)
	used := uint64(0)
	run := uint64(0) // occupied slots in a row ending at the current one
	for k := uint64(1); k <= ns; k++ {
		j := (start + k) & mask
		r := f.at(int(j))
		ord1, tag := le.Uint32(r), le.Uint32(r[4:])
		if ord1 == 0 {
			if tag != 0 {
				return ferr(f.name, f.off(int(j), 4), ErrCorrupt, "empty slot with a hash tag")
			}
			run = 0
			continue
		}
		run++
		ord := uint64(ord1 - 1)
		if ord >= nm {
			return ferr(f.name, f.off(int(j), 0), ErrOutOfBounds, "model ordinal "+strconv.FormatUint(ord, 10)+
				" of "+strconv.FormatUint(nm, 10))
		}
		if seen[ord/64]&(1<<(ord%64)) != 0 {
			return ferr(f.name, f.off(int(j), 0), ErrCorrupt, "model indexed twice")
		}
		seen[ord/64] |= 1 << (ord % 64)
		used++
		h := xxhash.Sum64String(s.modelName(uint32(ord)))
		if uint32(h>>32) != tag {
			return ferr(f.name, f.off(int(j), 4), ErrCorrupt, "hash tag does not match the model name")
		}
		if (j-h)&mask >= run {
			return ferr(f.name, f.off(int(j), 0), ErrCorrupt, "model unreachable from its home slot")
		}
	}
	if used != nm {
		return ferr(f.name, f.base, ErrCorrupt, "index holds "+strconv.FormatUint(used, 10)+" of "+strconv.FormatUint(nm, 10)+" models")
	}
	s.index, s.mask = f, mask
	return nil
}

// openTags checks the tag dictionary (sorted, unique, non-empty names;
// postings aligned, inside the postings section, in order and disjoint) and
// every bitmap (see openBitmap).
func (s *Snapshot) openTags(sec secFn) error {
	b, base := sec(SecTagDict)
	f, err := openFixed(b, base, "tag_dict", tagRecSize, true)
	if err != nil {
		return err
	}
	post, pbase := sec(SecPostings)
	s.postings = make([]*roaring.Bitmap, f.n)
	prev := ""
	end := uint64(0)
	for i := 0; i < f.n; i++ {
		r := f.at(i)
		name, ok := strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
		if !ok {
			return ferr(f.name, f.off(i, 0), ErrOutOfBounds, "tag name outside the strings section")
		}
		if name == "" || (i > 0 && name <= prev) {
			return ferr(f.name, f.off(i, 0), ErrCorrupt, "tag names are not sorted, unique and non-empty")
		}
		prev = name
		card, off, n := le.Uint32(r[8:]), uint64(le.Uint32(r[12:])), uint64(le.Uint32(r[16:]))
		if off%PostingAlign != 0 {
			return ferr(f.name, f.off(i, 12), ErrCorrupt, "postings of tag "+strconv.Quote(name)+" are not 8-byte aligned")
		}
		if off > uint64(len(post)) || n > uint64(len(post))-off {
			return ferr(f.name, f.off(i, 12), ErrOutOfBounds, "postings of tag "+strconv.Quote(name)+" lie outside the postings section")
		}
		if off < end {
			return ferr(f.name, f.off(i, 12), ErrOverlap, "postings of tag "+strconv.Quote(name)+" overlap the previous tag's")
		}
		end = off + n
		bm, msg, class := openBitmap(post[off:end], uint64(s.pairs.n), card)
		if bm == nil {
			return ferr("postings", pbase+int64(off), class, "bitmap of tag "+strconv.Quote(name)+": "+msg)
		}
		s.postings[i] = bm
	}
	s.tags = f
	return nil
}

// openBitmap checks the roaring portable serialisation in b by hand before
// the roaring package reads it: no-run cookie, container count, ascending
// keys, offset table and sizes that add up to exactly len(b). Only then is b
// given to FromBuffer (which keeps views into b), and the result is
// Validate()d and checked against the pair count and the dictionary's
// cardinality. It returns nil, a reason and an error class on failure.
func openBitmap(b []byte, npairs uint64, card uint32) (*roaring.Bitmap, string, error) {
	if len(b) < 8 {
		return nil, "shorter than a roaring header", ErrCorrupt
	}
	if le.Uint32(b) != roaringNoRunCookie {
		return nil, "not a run-free roaring bitmap (cookie " + strconv.FormatUint(uint64(le.Uint32(b)), 10) + ")", ErrCorrupt
	}
	size := uint64(le.Uint32(b[4:]))
	if size > roaringMaxKeys {
		return nil, "too many containers", ErrCorrupt
	}
	pos := 8 + 8*size
	if pos > uint64(len(b)) {
		return nil, "container headers run past the bitmap", ErrCorrupt
	}
	total := uint64(0)
	for k := uint64(0); k < size; k++ {
		key := le.Uint16(b[8+4*k:])
		c := uint64(le.Uint16(b[10+4*k:])) + 1
		if k > 0 && key <= le.Uint16(b[8+4*(k-1):]) {
			return nil, "container keys not ascending", ErrCorrupt
		}
		if uint64(le.Uint32(b[8+4*size+4*k:])) != pos {
			return nil, "container offset table is wrong", ErrCorrupt
		}
		if c > roaringArrayMax {
			pos += roaringBitmapBytes
		} else {
			pos += 2 * c
		}
		total += c
	}
	if pos != uint64(len(b)) {
		return nil, "container sizes do not add up to the bitmap length", ErrCorrupt
	}
	if total != uint64(card) {
		return nil, "cardinality " + strconv.FormatUint(total, 10) + " differs from the dictionary's " + strconv.FormatUint(uint64(card), 10), ErrCorrupt
	}
	bm := roaring.New()
	p, err := bm.FromBuffer(b)
	if err != nil {
		return nil, err.Error(), ErrCorrupt
	}
	if p != int64(len(b)) {
		return nil, "roaring read " + strconv.FormatInt(p, 10) + " of " + strconv.Itoa(len(b)) + " bytes", ErrCorrupt
	}
	if err := bm.Validate(); err != nil {
		return nil, err.Error(), ErrCorrupt
	}
	if bm.GetCardinality() != uint64(card) {
		return nil, "cardinality differs from the dictionary's", ErrCorrupt
	}
	if card > 0 && uint64(bm.Maximum()) >= npairs {
		return nil, "pair ordinal " + strconv.FormatUint(uint64(bm.Maximum()), 10) + " of " + strconv.FormatUint(npairs, 10), ErrOutOfBounds
	}
	return bm, "", nil
}

func (s *Snapshot) openPrewarm(sec secFn) error {
	b, base := sec(SecPrewarm)
	if b == nil {
		return nil
	}
	f, err := openFixed(b, base, "prewarm", prewarmRecSize, false)
	if err != nil {
		return err
	}
	tail := f.body[f.n*f.rec:]
	tailOff := f.base + recHeaderSize + int64(f.n*f.rec)
	if len(tail)%4 != 0 {
		return ferr(f.name, tailOff, ErrCorrupt, "pair list is not a whole number of u32")
	}
	total := uint64(len(tail) / 4)
	var all []uint32
	if total > 0 {
		all = make([]uint32, total)
	}
	s.prewarm = make([]Prewarm, f.n)
	next := uint64(0)
	prev := ""
	for i := 0; i < f.n; i++ {
		r := f.at(i)
		q, ok := strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
		if !ok {
			return ferr(f.name, f.off(i, 0), ErrOutOfBounds, "query string outside the strings section")
		}
		if i > 0 && q <= prev {
			return ferr(f.name, f.off(i, 0), ErrCorrupt, "queries are not sorted and unique")
		}
		prev = q
		first, n := uint64(le.Uint32(r[8:])), uint64(le.Uint32(r[12:]))
		if first != next || n > total-first {
			return ferr(f.name, f.off(i, 8), ErrOutOfBounds, "pair list range is not contiguous or runs past the list")
		}
		next = first + n
		pw := all[first:next:next]
		for j := range pw {
			o := le.Uint32(tail[4*(first+uint64(j)):])
			at := tailOff + int64(4*(first+uint64(j)))
			if uint64(o) >= uint64(s.pairs.n) {
				return ferr(f.name, at, ErrOutOfBounds, "pair ordinal "+strconv.FormatUint(uint64(o), 10)+" of "+strconv.Itoa(s.pairs.n))
			}
			if j > 0 && o <= pw[j-1] {
				return ferr(f.name, at, ErrCorrupt, "pair list is not ascending")
			}
			pw[j] = o
		}
		if n == 0 {
			pw = nil
		}
		s.prewarm[i] = Prewarm{Query: q, Pairs: pw}
	}
	if next != total {
		return ferr(f.name, tailOff, ErrCorrupt, "pair list has entries no query uses")
	}
	if f.n == 0 {
		s.prewarm = nil
	}
	return nil
}

func (s *Snapshot) openKeyStates(sec secFn) error {
	b, base := sec(SecKeyStates)
	if b == nil {
		return nil
	}
	f, err := openFixed(b, base, "key_states", keyRecSize, true)
	if err != nil || f.n == 0 {
		return err
	}
	s.keyStates = make([]KeyState, f.n)
	for i := range s.keyStates {
		r := f.at(i)
		ch := le.Uint32(r)
		if uint64(ch) >= uint64(len(s.channels)) {
			return ferr(f.name, f.off(i, 0), ErrOutOfBounds, "channel ordinal "+strconv.FormatUint(uint64(ch), 10)+
				" of "+strconv.Itoa(len(s.channels)))
		}
		if i > 0 && ch <= s.keyStates[i-1].Channel {
			return ferr(f.name, f.off(i, 0), ErrCorrupt, "key states are not sorted by channel and unique")
		}
		et, ok := strAt(s.strs, le.Uint32(r[8:]), le.Uint32(r[12:]))
		if !ok {
			return ferr(f.name, f.off(i, 8), ErrOutOfBounds, "error type outside the strings section")
		}
		if r[34] > 1 {
			return ferr(f.name, f.off(i, 34), ErrCorrupt, "boolean byte is "+strconv.Itoa(int(r[34])))
		}
		s.keyStates[i] = KeyState{
			Channel: ch, LatencyMs: le.Uint32(r[4:]), ErrorType: et, Timestamp: int64(le.Uint64(r[16:])),
			ConsecutiveFailures: le.Uint32(r[24:]), HealthScore: f32(r[28:]), StatusCode: le.Uint16(r[32:]), Valid: r[34] == 1,
		}
	}
	return nil
}

// Accessors. Indices out of range give zero values rather than a panic.

// Header returns the decoded header.
func (s *Snapshot) Header() Header { return s.hdr }

// Settings returns the decoded settings; the caller must not modify them.
func (s *Snapshot) Settings() *Settings { return &s.settings }

// Sources returns the recorded input files; read-only.
func (s *Snapshot) Sources() []Source { return s.sources }

// Providers returns the providers in ordinal order; read-only.
func (s *Snapshot) Providers() []Provider { return s.providers }

// Channels returns the channels in ordinal order; read-only.
func (s *Snapshot) Channels() []Channel { return s.channels }

// KeyStates returns the key-validation states sorted by channel; read-only.
func (s *Snapshot) KeyStates() []KeyState { return s.keyStates }

// Prewarm returns the prewarm candidate lists sorted by query; read-only.
func (s *Snapshot) Prewarm() []Prewarm { return s.prewarm }

// Sections returns a copy of the section table in table order.
func (s *Snapshot) Sections() []SectionInfo { return append([]SectionInfo(nil), s.secs...) }

// NumModels returns the number of distinct models.
func (s *Snapshot) NumModels() int { return s.models.n }

func (s *Snapshot) modelName(i uint32) string {
	r := s.models.at(int(i))
	str, _ := strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
	return str
}

// Model returns model i (sorted by name).
func (s *Snapshot) Model(i uint32) ModelInfo {
	if uint64(i) >= uint64(s.models.n) {
		return ModelInfo{}
	}
	r := s.models.at(int(i))
	name, _ := strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
	owner, _ := strAt(s.strs, le.Uint32(r[8:]), le.Uint32(r[12:]))
	return ModelInfo{Name: name, OwnedBy: owner, Created: int64(le.Uint64(r[16:]))}
}

// ModelPairs returns the range of pair ordinals of model i: pairs are sorted
// by model, so they are first, first+1, ..., first+count-1.
func (s *Snapshot) ModelPairs(i uint32) (first, count uint32) {
	if uint64(i) >= uint64(s.models.n) {
		return 0, 0
	}
	r := s.models.at(int(i))
	return le.Uint32(r[24:]), le.Uint32(r[28:])
}

// LookupModel finds a model by its exact, case-sensitive name through the
// hash index. It does not allocate.
func (s *Snapshot) LookupModel(name string) (uint32, bool) {
	h := xxhash.Sum64String(name)
	tag := uint32(h >> 32)
	idx, rec := s.index.body, uint64(s.index.rec)
	for j, n := h&s.mask, uint64(0); n <= s.mask; j, n = (j+1)&s.mask, n+1 {
		slot := le.Uint64(idx[j*rec:])
		ord1 := uint32(slot)
		if ord1 == 0 {
			return 0, false
		}
		if uint32(slot>>32) == tag && s.modelName(ord1-1) == name {
			return ord1 - 1, true
		}
	}
	return 0, false
}

// NumPairs returns the number of (channel, model) pairs.
func (s *Snapshot) NumPairs() int { return s.pairs.n }

// Pair decodes pair i from its fixed record. Tags is nil (use TagPairs or
// PairTags). It does not allocate.
func (s *Snapshot) Pair(i uint32) Pair {
	if uint64(i) >= uint64(s.pairs.n) {
		return Pair{}
	}
	r := s.pairs.body[int(i)*s.pairs.rec:]
	r = r[:pairRecSize]
	return Pair{
		Channel:         le.Uint32(r[0:]),
		Model:           le.Uint32(r[4:]),
		InputPrice:      le.Uint64(r[8:]),
		OutputPrice:     le.Uint64(r[16:]),
		RequestPrice:    le.Uint64(r[24:]),
		ContextLength:   le.Uint64(r[32:]),
		MaxOutputTokens: le.Uint64(r[40:]),
		ParamsM:         le.Uint64(r[48:]),
		Caps:            le.Uint32(r[56:]),
		Flags:           le.Uint32(r[60:]),
		ParameterScore:  f32(r[64:]),
		ContextScore:    f32(r[68:]),
		QualityScore:    f32(r[72:]),
		FreeScore:       f32(r[76:]),
		LocalScore:      f32(r[80:]),
	}
}

// NumTags returns the number of distinct tags.
func (s *Snapshot) NumTags() int { return s.tags.n }

// Tag returns tag i of the dictionary (sorted by name) and how many pairs
// carry it.
func (s *Snapshot) Tag(i uint32) (name string, cardinality uint32) {
	if uint64(i) >= uint64(s.tags.n) {
		return "", 0
	}
	r := s.tags.at(int(i))
	name, _ = strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
	return name, le.Uint32(r[8:])
}

func (s *Snapshot) tagName(i int) string {
	r := s.tags.at(i)
	name, _ := strAt(s.strs, le.Uint32(r), le.Uint32(r[4:]))
	return name
}

// LookupTag finds a tag by exact name (tags are lowercase) by binary search.
func (s *Snapshot) LookupTag(name string) (uint32, bool) {
	lo, hi := 0, s.tags.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.tagName(mid) < name {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < s.tags.n && s.tagName(lo) == name {
		return uint32(lo), true
	}
	return 0, false
}

// TagPairs returns the pairs carrying tag i as a bitmap of pair ordinals.
// The bitmap is shared and reads the snapshot's bytes in place: never modify
// it; use roaring.And, roaring.FastAnd and friends, which return new bitmaps,
// or Clone it first. An unknown i gives an empty bitmap.
func (s *Snapshot) TagPairs(i uint32) *roaring.Bitmap {
	if uint64(i) >= uint64(len(s.postings)) {
		return s.empty
	}
	return s.postings[i]
}

// PairTags returns the tags of pair i, sorted. It scans every posting list,
// so it is meant for dumps and inspection, not for routing.
func (s *Snapshot) PairTags(i uint32) []string {
	var out []string
	for t, bm := range s.postings {
		if bm.Contains(i) {
			out = append(out, s.tagName(t))
		}
	}
	return out
}

func f32(b []byte) float32 { return float32frombits(le.Uint32(b)) }
