package discover

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"smartrouter/compiler"
	"smartrouter/compiler/cache"
	"smartrouter/compiler/config"
	"smartrouter/format"
	"smartrouter/format/vocab"
)

// Options tune Run. ConfigDir and CacheDir are required; zero values of the
// others take the defaults.
type Options struct {
	ConfigDir string
	CacheDir  string
	// Channels limits the run to these channel ids (empty: every enabled
	// channel). An id the config does not have is an error.
	Channels    []string
	Concurrency int           // channels asked at once (0: DefaultConcurrency)
	Timeout     time.Duration // per call (0: DefaultTimeout)
	Client      *http.Client  // nil: NewClient(); a client without a redirect policy gets MaxRedirects
	Now         func() time.Time
	Progress    func(Event) // called after each channel, from one goroutine at a time; nil: none
	// LookupEnv resolves ${ENV} keys (nil: os.LookupEnv).
	LookupEnv func(string) (string, bool)

	keyCheck bool // ValidateKeys: one page is enough, an empty list is an answer
	// decode, when set, is held while an answer is decoded: Run decodes
	// one answer at a time, so that a run inside routerd never keeps more
	// than one core from the requests however many calls wait on the
	// network at once.
	decode chan struct{}
}

// Channel statuses of a report.
const (
	StatusOK      = "ok"
	StatusError   = "error"
	StatusSkipped = "skipped"
)

// ChannelResult is what happened to one channel.
type ChannelResult struct {
	ID     string
	Key    string // the cache entry written: the channel id or <id>_<8 hex>
	Status string // StatusOK, StatusError or StatusSkipped
	// Models is the number of models the entry now lists (for an error, the
	// last good ones that were kept).
	Models         int
	Added, Removed []string // model ids since the previous entry
	Error          string   // why it failed or was skipped; never holds a key
	Kind           string   // for errors: invalid_key, quota_exceeded, rate_limit, server_error, network_error or unknown
	Elapsed        time.Duration
}

// Event reports progress: Done of Total channels are finished, the last
// being Channel.
type Event struct {
	Done, Total int
	Channel     ChannelResult
}

// Report is the result of a run.
type Report struct {
	Path     string          // the discovery cache
	Channels []ChannelResult // in config order
	// Changed reports whether the cache file's content changed (and so was
	// written); a run that found the same models leaves it untouched.
	Changed bool
	Elapsed time.Duration
}

// Counts returns how many channels are ok, failed and skipped.
func (r *Report) Counts() (ok, failed, skipped int) {
	for _, c := range r.Channels {
		switch c.Status {
		case StatusOK:
			ok++
		case StatusError:
			failed++
		default:
			skipped++
		}
	}
	return
}

// job is one channel to ask.
type job struct {
	ch    *config.Channel
	prov  *config.Provider
	bases []string
	key   string // resolved, "" for a local channel without one
	res   *ChannelResult
	list  *listing
	err   *callError
}

// Run asks every selected channel for its model list and merges the answers
// into the discovery cache (see the package documentation).
func Run(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	o, err := normalize(opts)
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.Load(o.ConfigDir, config.Options{}, nil)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	chans, err := selectChannels(cfg, o.Channels)
	if err != nil {
		return nil, err
	}
	path, old, members, err := readCache(o.CacheDir)
	if err != nil {
		return nil, err
	}
	o.decode = make(chan struct{}, 1)
	rep := &Report{Path: path, Channels: make([]ChannelResult, len(chans))}
	var jobs []*job
	for i, ch := range chans {
		r := &rep.Channels[i]
		r.ID = ch.ID
		j := &job{ch: ch, prov: cfg.Provider(ch.Provider), bases: cfg.BaseURLs(ch), res: r}
		if why := usable(cfg, ch, o.LookupEnv, &j.key); why != "" {
			r.Status, r.Error = StatusSkipped, why
			continue
		}
		jobs = append(jobs, j)
	}
	var mu sync.Mutex
	done := len(chans) - len(jobs)
	forEach(o.Concurrency, len(jobs), func(i int) {
		j := jobs[i]
		t := time.Now()
		j.list, j.err = fetchChannel(ctx, o, j)
		j.res.Elapsed = time.Since(t)
		mu.Lock()
		defer mu.Unlock()
		done++
		if o.Progress != nil {
			fillResult(j)
			o.Progress(Event{Done: done, Total: len(chans), Channel: *j.res})
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("discover: stopped (%w); the cache was not changed", err)
	}
	now := o.Now()
	doc := merge(members, jobs, now)
	if old == nil || !doc.equals(old) {
		if err := compiler.WriteFileAtomicFunc(path, doc.writeTo); err != nil {
			return rep, fmt.Errorf("discover: %w", err)
		}
		rep.Changed = true
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func normalize(o Options) (Options, error) {
	if o.ConfigDir == "" || o.CacheDir == "" {
		return o, errors.New("discover: give both the config folder and the cache folder")
	}
	if fi, err := os.Stat(o.CacheDir); err != nil || !fi.IsDir() {
		return o, fmt.Errorf("discover: cache folder %s does not exist or is not a folder; create it first", o.CacheDir)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Client == nil {
		o.Client = NewClient()
	} else {
		o.Client = limitRedirects(o.Client)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	return o, nil
}

// selectChannels returns the enabled channels, or those named (which must
// exist; a named disabled channel is kept and reported as skipped).
func selectChannels(cfg *config.Config, ids []string) ([]*config.Channel, error) {
	var out []*config.Channel
	if len(ids) == 0 {
		for i := range cfg.Channels {
			out = append(out, &cfg.Channels[i])
		}
		return out, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if cfg.Channel(id) == nil {
			return nil, fmt.Errorf("discover: the config has no channel %q; check the id (routerc inspect lists them)", id)
		}
		want[id] = true
	}
	for i := range cfg.Channels {
		if want[cfg.Channels[i].ID] {
			out = append(out, &cfg.Channels[i])
		}
	}
	return out, nil
}

// usable resolves the channel's key into *key and says why the channel
// cannot be asked ("" when it can).
func usable(cfg *config.Config, ch *config.Channel, env func(string) (string, bool), key *string) string {
	if !ch.Enabled {
		return "disabled"
	}
	if len(cfg.BaseURLs(ch)) == 0 && ch.ModelsURL == "" {
		return "no base URL"
	}
	k := vocab.ResolveSecret(ch.APIKey, env)
	if !vocab.IsPlaceholderKey(k) {
		*key = k
		return ""
	}
	if vocab.IsLocalChannel(&format.Channel{Tags: ch.Tags, BaseURLs: cfg.BaseURLs(ch)}) {
		return ""
	}
	return fmt.Sprintf("no usable key (%s); set it to ask this channel", vocab.DescribeSecret(ch.APIKey))
}

// forEach calls fn(i) for i in [0, n), at most conc at once, and waits for
// all of them.
func forEach(conc, n int, fn func(i int)) {
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// listing is a successful answer.
type listing struct {
	url    string
	shape  Shape
	models []model
	raw    []byte // the answer (pages as a JSON list when there were several)
}

// fetchChannel asks the channel's model-list addresses in order (models_url
// or one per base URL, then fallback_urls) until one answers with a list.
func fetchChannel(ctx context.Context, o Options, j *job) (*listing, *callError) {
	base := ""
	if len(j.bases) > 0 {
		base = j.bases[0]
	}
	sh := shapeOf(j.prov, j.ch, base)
	var urls []string
	if j.ch.ModelsURL != "" {
		urls = append(urls, j.ch.ModelsURL)
	} else {
		for _, b := range j.bases {
			urls = append(urls, listURL(sh, b))
		}
	}
	urls = append(urls, j.ch.FallbackURLs...)
	var first *callError
	for _, u := range urls {
		s := sh
		if strings.HasSuffix(strings.TrimRight(u, "/"), "/api/tags") {
			s = ShapeOllama
		}
		l, err := fetchList(ctx, o, u, s, headers(s, j.prov.AuthType, j.key), j.key)
		if err == nil {
			return l, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = &callError{Kind: KindUnknown, Msg: "no address to ask; set base_url or models_url"}
	}
	if len(urls) > 1 {
		others := "1 other address"
		if len(urls) > 2 {
			others = fmt.Sprintf("%d other addresses", len(urls)-1)
		}
		first = &callError{Kind: first.Kind, Status: first.Status, Msg: fmt.Sprintf("%s (and %s failed too)", first.Msg, others)}
	}
	return nil, first
}

// fetchList reads every page of one model list.
func fetchList(ctx context.Context, o Options, u string, sh Shape, h http.Header, key string) (*listing, *callError) {
	l := &listing{url: u, shape: sh}
	var pages [][]byte
	next := ""
	for n := 0; n < maxPages; n++ {
		pu := pageURL(u, sh, next)
		body, _, err := get(ctx, o.Client, request{url: pu, header: h.Clone(), key: key}, o.Timeout)
		if err != nil {
			var ce *callError
			if errors.As(err, &ce) {
				return nil, ce
			}
			return nil, &callError{Kind: KindUnknown, Msg: err.Error()}
		}
		if o.decode != nil {
			o.decode <- struct{}{}
		}
		p, ok := parseList(sh, body)
		if o.decode != nil {
			<-o.decode
		}
		if !ok {
			return nil, notJSON("GET "+safeURL(pu), body).(*callError)
		}
		pages = append(pages, body)
		l.models = append(l.models, p.models...)
		if p.next == "" || p.next == next || o.keyCheck {
			break
		}
		next = p.next
	}
	if len(l.models) == 0 && !o.keyCheck {
		return nil, &callError{Kind: KindUnknown, Status: 200, Msg: fmt.Sprintf("GET %s: the provider listed no models; the previous list is kept", safeURL(u))}
	}
	if len(pages) == 1 {
		l.raw = pages[0]
	} else {
		l.raw = append([]byte("["), bytes.Join(pages, []byte(","))...)
		l.raw = append(l.raw, ']')
	}
	return l, nil
}

// pageURL adds the pagination parameters of a shape.
func pageURL(u string, sh Shape, next string) string {
	var q url.Values
	switch sh {
	case ShapeAnthropic:
		q = url.Values{"limit": {"1000"}}
		if next != "" {
			q.Set("after_id", next)
		}
	case ShapeGemini:
		q = url.Values{"pageSize": {"1000"}}
		if next != "" {
			q.Set("pageToken", next)
		}
	default:
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + q.Encode()
}

// keyHash is the 8 hex digits that identify a key in the caches: the first
// four bytes of its SHA-256.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

// readCache reads the discovery cache of dir: the path to write (the file
// found, else discovered_models.json), its bytes and its members.
func readCache(dir string) (string, []byte, []member, error) {
	p, err := cache.FindDiscovery(dir, nil)
	if err != nil {
		return "", nil, nil, fmt.Errorf("discover: %w", err)
	}
	if p == "" {
		return filepath.Join(dir, cache.DiscoveryFile), nil, nil, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil, nil, nil
		}
		return "", nil, nil, fmt.Errorf("discover: read %s: %w", p, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return p, b, nil, nil
	}
	ms, err := splitObject(b)
	if err != nil {
		return "", nil, nil, fmt.Errorf("discover: %s is not a usable discovery cache (%v); move it away to start a new one", p, err)
	}
	return p, b, ms, nil
}

// entryKey picks the cache key of a channel: <id>_<hash of the key> when
// the file has that entry, else the plain id when the file has it, else the
// hashed form when the file keys this channel by key hash, else the plain
// id.
func entryKey(ms []member, id, key string) string {
	hashed := ""
	if key != "" {
		hashed = id + "_" + keyHash(key)
	}
	plain, otherHash := false, false
	for i := range ms {
		n := ms[i].Name
		switch {
		case hashed != "" && strings.EqualFold(n, hashed):
			return n
		case n == id:
			plain = true
		default:
			if cid, h := cache.SplitKey(n); h != "" && cid == id {
				otherHash = true
			}
		}
	}
	if !plain && otherHash && hashed != "" {
		return hashed
	}
	return id
}

// merge lays out the new cache: every member of the old file in its order,
// those of the asked channels replaced, new ones at the end. The members
// not refreshed, and the refreshed ones that did not change, are the old
// file's bytes (no copy).
func merge(ms []member, jobs []*job, now time.Time) *document {
	byKey := map[string]*job{}
	for _, j := range jobs {
		k := entryKey(ms, j.ch.ID, j.key)
		j.res.Key = k
		byKey[k] = j
	}
	d := &document{members: make([]member, 0, len(ms)+len(jobs))}
	for i := range ms {
		j, ok := byKey[ms[i].Name]
		if !ok {
			d.members = append(d.members, ms[i])
			continue
		}
		d.members = append(d.members, member{Name: ms[i].Name, Raw: entry(j, ms[i].Raw, now)})
		delete(byKey, ms[i].Name)
	}
	for _, j := range jobs {
		if _, ok := byKey[j.res.Key]; ok {
			d.members = append(d.members, member{Name: j.res.Key, Raw: entry(j, nil, now)})
			delete(byKey, j.res.Key)
		}
	}
	return d
}

// document is a cache file to write: a top-level object, one member per
// line, as objectWriter writes it, and a final newline. It is written
// straight to its file (writeTo), never assembled whole in memory: the
// discovery cache of a real installation reaches 50 MB.
type document struct {
	members []member
}

// writeTo writes the document to w.
func (d *document) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteByte('{')
	for i, m := range d.members {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n  ")
		q, _ := json.Marshal(m.Name) // a string: cannot fail
		bw.Write(q)
		bw.WriteString(": ")
		bw.Write(m.Raw)
	}
	if len(d.members) > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// equals reports whether the document's bytes are old's, without writing
// them anywhere.
func (d *document) equals(old []byte) bool {
	c := &compareWriter{old: old, same: true}
	_ = d.writeTo(c) // compareWriter never fails
	return c.same && c.off == len(old)
}

// compareWriter compares what is written to it with old.
type compareWriter struct {
	old  []byte
	off  int
	same bool
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if c.same && (c.off+len(p) > len(c.old) || !bytes.Equal(c.old[c.off:c.off+len(p)], p)) {
		c.same = false
	}
	c.off += len(p)
	return len(p), nil
}

// managed are the entry members a refresh rewrites; others are kept.
var managed = []string{"channel_id", "provider", "base_url", "models_url", "models", "models_data", "models_pricing",
	"model_count", "last_updated", "status", "error", "note", "api_key", "api_key_hash", "cache_key", "response_data",
	"last_error", "last_error_at"}

// entry builds a channel's new entry from its old one (nil if none) and
// the job's outcome, and fills the job's result. A run that finds what the
// entry already says (the same models, data and prices, or the same error
// again) keeps the old entry byte for byte, its timestamps included: the
// entry is built once with the old entry's last_updated, last_error_at and
// response_data and compared with it. So an unchanged provider, or one that
// keeps failing the same way, leaves the file, and the snapshot compiled
// from it, as they were (a new timestamp alone would make every run a new
// generation).
func entry(j *job, oldRaw []byte, now time.Time) []byte {
	old, _ := splitObject(oldRaw) // an old entry that is not an object is replaced
	if oldRaw != nil && !listDiffers(j, old) {
		if b := buildEntry(j, old, now, true); bytes.Equal(b, oldRaw) {
			return oldRaw
		}
	}
	return buildEntry(j, old, now, false)
}

// listDiffers is a cheap early answer for the common change: the answer's
// model ids are not the old entry's "models" (as buildEntry writes them),
// so the entry cannot be kept and need not be built twice.
func listDiffers(j *job, old []member) bool {
	if j.list == nil {
		return false
	}
	ids := make([]string, 0, len(j.list.models))
	seen := make(map[string]bool, len(j.list.models))
	for _, m := range j.list.models {
		if !seen[m.ID] {
			seen[m.ID] = true
			ids = append(ids, m.ID)
		}
	}
	b, err := json.Marshal(ids)
	return err == nil && !bytes.Equal(b, find(old, "models"))
}

// buildEntry writes the new entry; with keep, the members that change at
// every run (timestamps, the provider's raw answer) are the old entry's.
func buildEntry(j *job, old []member, now time.Time, keep bool) []byte {
	oldModels, oldGood := prevModels(old)
	stampJSON, _ := json.Marshal(now.UTC().Format("2006-01-02T15:04:05.000000"))
	stamp := func(name string) []byte {
		if keep {
			if raw := find(old, name); raw != nil {
				return raw
			}
		}
		return stampJSON
	}
	r := j.res
	if j.err != nil {
		r.Status, r.Error, r.Kind = StatusError, j.err.Msg, j.err.Kind
		if oldGood {
			// Keep the last good list; record the failure beside it.
			o := newObject("  ")
			for _, m := range old {
				if m.Name != "last_error" && m.Name != "last_error_at" {
					o.raw(m.Name, m.Raw)
				}
			}
			o.value("last_error", j.err.Msg)
			o.raw("last_error_at", stamp("last_error_at"))
			r.Models = len(oldModels)
			return o.bytes()
		}
		o := newObject("  ")
		j.head(o)
		o.value("models", []string{})
		o.value("model_count", 0)
		o.raw("last_updated", stamp("last_updated"))
		o.value("status", cache.StatusError)
		o.value("error", j.err.Msg)
		keepOthers(o, old)
		return o.bytes()
	}
	l := j.list
	ids := make([]string, 0, len(l.models))
	data := make(map[string]any, len(l.models))
	prices := map[string]any{}
	seen := make(map[string]bool, len(l.models))
	for _, m := range l.models {
		if seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		ids = append(ids, m.ID)
		data[m.ID] = m.Data
		if m.Price != nil {
			prices[m.ID] = map[string]any{"prompt": m.Price.Prompt, "completion": m.Price.Completion, "is_free": m.Price.IsFree, "provider": j.ch.Provider}
		}
	}
	r.Status, r.Models = StatusOK, len(ids)
	r.Added, r.Removed = diffIDs(oldModels, ids)
	o := newObject("  ")
	j.head(o)
	o.value("models", ids)
	o.raw("models_data", orderedObject(ids, data))
	if len(prices) > 0 {
		o.raw("models_pricing", orderedObject(ids, prices))
	}
	o.value("model_count", len(ids))
	o.raw("last_updated", stamp("last_updated"))
	o.value("status", cache.StatusSuccess)
	if j.key != "" {
		o.value("api_key_hash", keyHash(j.key))
	}
	keepOthers(o, old)
	if keep && find(old, "response_data") != nil {
		// The same models, data and prices with a differently worded
		// answer are the same list.
		o.raw("response_data", find(old, "response_data"))
	} else {
		o.raw("response_data", l.raw) // valid JSON: parseList decoded it
	}
	return o.bytes()
}

// head writes the channel's identity members.
func (j *job) head(o *objectWriter) {
	o.value("channel_id", j.ch.ID)
	o.value("provider", j.ch.Provider)
	base := ""
	if len(j.bases) > 0 {
		base = j.bases[0]
	}
	o.value("base_url", base)
	u := j.ch.ModelsURL
	if j.list != nil {
		u = j.list.url
	} else if u == "" && base != "" {
		u = listURL(shapeOf(j.prov, j.ch, base), base)
	}
	o.value("models_url", safeURL(u))
}

// keepOthers copies the members of old that a refresh does not manage.
func keepOthers(o *objectWriter, old []member) {
	for _, m := range old {
		if !slices.Contains(managed, m.Name) {
			o.raw(m.Name, m.Raw)
		}
	}
}

// orderedObject writes {id: v} in the order of ids.
func orderedObject(ids []string, vals map[string]any) []byte {
	o := newObject("    ")
	for _, id := range ids {
		if v, ok := vals[id]; ok {
			o.value(id, v)
		}
	}
	return o.bytes()
}

// prevModels returns the models of an old entry and whether it holds a good
// list (a status other than error, and at least one model).
func prevModels(old []member) ([]string, bool) {
	var ids []string
	if raw := find(old, "models"); raw != nil {
		_ = json.Unmarshal(raw, &ids)
	}
	var status string
	if raw := find(old, "status"); raw != nil {
		_ = json.Unmarshal(raw, &status)
	}
	if status == cache.StatusError {
		return nil, false
	}
	return ids, len(ids) > 0
}

// diffIDs lists the ids of b not in a (added) and of a not in b (removed).
func diffIDs(a, b []string) (added, removed []string) {
	in := func(s []string) map[string]bool {
		m := make(map[string]bool, len(s))
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	for _, x := range b {
		if !ma[x] {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !mb[x] {
			removed = append(removed, x)
		}
	}
	return added, removed
}

// fillResult sets what a progress event shows before the merge completes
// the result.
func fillResult(j *job) {
	if j.err != nil {
		j.res.Status, j.res.Error, j.res.Kind = StatusError, j.err.Msg, j.err.Kind
	} else if j.list != nil {
		j.res.Status, j.res.Models = StatusOK, len(j.list.models)
	}
}
