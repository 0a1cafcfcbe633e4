package compiler

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"smartrouter/compiler/cache"
	"smartrouter/compiler/config"
	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// Source path prefixes: the server resolves "config/<rel>" against its
// config directory and "cache/<rel>" against its cache directory.
const (
	configPrefix = "config/"
	cachePrefix  = "cache/"
)

// Files the compiler reads beyond those of compiler/config and compiler/cache.
const (
	// CapabilitiesFile is config/model_capabilities.json (optional).
	CapabilitiesFile = "model_capabilities.json"
	// PricingDir is the folder of the unified pricing files inside config/.
	PricingDir = "pricing"
)

// Warning groups of the compiler itself.
const (
	groupUnknownChannel = "discovery: entry of a channel not in the config (skipped)"
	groupDupEntry       = "discovery: several entries for one channel (one used)"
	groupKeyUnknown     = "key validation: verdict for a channel not in the config (skipped)"
	groupPrewarm        = "prewarm: query skipped"
	groupPrice          = "price: unusable after the currency rate (treated as unknown)"
	groupNoModels       = "channel without models"
)

// inputs is everything read from disk, before it is joined into a model.
type inputs struct {
	cfg       *config.Config
	cfgRoot   string // the folder holding router_config.yaml
	sources   []format.Source
	caps      *capTable
	provPrice map[string]*cache.PriceTable // by provider key
	base      *cache.PriceTable
	caches    []*cache.PriceTable
	entries   [][]discEntry // per channel ordinal, file order
	kv        *cache.KeyValidation
	chanIdx   map[string]int
	learned   []string // most requested model strings (learned.go)
}

// discEntry is a discovery entry matched to a channel.
type discEntry struct {
	e     *cache.DiscoveryEntry
	hash  string // the <8 hex> of the key, "" for a plain channel id key
	order int    // position in the file
}

type reader struct {
	opts      Options
	w         *diag.Warnings
	configDir string
	cacheDir  string
	in        *inputs
}

// readInputs reads the config, the pricing files and the caches, recording
// every file read (and every optional file looked for but absent) as a
// source, in a fixed order.
func readInputs(configDir, cacheDir string, opts Options, w *diag.Warnings) (*inputs, error) {
	r := &reader{opts: opts, w: w, configDir: configDir, cacheDir: cacheDir, in: &inputs{}}
	steps := []func() error{r.config, r.capabilities, r.pricing, r.discovery, r.pricingCaches, r.keyValidation, r.learnedPatterns}
	opts.phase(PhaseConfig)
	for i, step := range steps {
		if i == 3 {
			opts.phase(PhaseCaches)
		}
		if err := step(); err != nil {
			return nil, err
		}
	}
	return r.in, nil
}

func (r *reader) addSource(prefix, rel string, s format.Source) {
	s.Path = prefix + filepath.ToSlash(rel)
	switch {
	case r.opts.Reproducible:
		s.ModTime = 0
	case !r.opts.SourceDate.IsZero():
		s.ModTime = min(s.ModTime, r.opts.SourceDate.UnixNano())
	}
	r.in.sources = append(r.in.sources, s)
}

// addAbsent records an optional file that was looked for and not found, so
// that a server notices when it appears.
func (r *reader) addAbsent(prefix, rel string) {
	r.in.sources = append(r.in.sources, format.Source{Path: prefix + filepath.ToSlash(rel), Size: -1})
}

// cacheRel is path relative to the cache directory.
func (r *reader) cacheRel(p string) string {
	if rel, err := filepath.Rel(r.cacheDir, p); err == nil {
		return rel
	}
	return filepath.Base(p)
}

// configRel is path relative to the config directory.
func (r *reader) configRel(p string) string {
	if rel, err := filepath.Rel(r.configDir, p); err == nil {
		return rel
	}
	return filepath.Base(p)
}

func (r *reader) config() error {
	cfg, srcs, err := config.Load(r.configDir, config.Options{ForbidLiteralSecrets: r.opts.ForbidLiteralSecrets}, r.w)
	if err != nil {
		return err
	}
	r.in.cfg = cfg
	// router_config.yaml may sit in a config/ folder of the directory given.
	sub := ""
	if len(srcs) > 0 {
		if d := path.Dir(srcs[0].Path); d != "." {
			sub = d
		}
	}
	r.in.cfgRoot = filepath.Join(r.configDir, filepath.FromSlash(sub))
	byPath := make(map[string]format.Source, len(srcs))
	for _, s := range srcs {
		byPath[s.Path] = s
	}
	for _, name := range []string{config.MainFile, config.ProvidersFile, config.PricingFile, config.RoutingFile, config.PerformanceFile} {
		rel := path.Join(sub, name)
		if s, ok := byPath[rel]; ok {
			r.addSource(configPrefix, rel, s)
		} else {
			r.addAbsent(configPrefix, rel)
		}
	}
	r.in.chanIdx = make(map[string]int, len(cfg.Channels))
	for i := range cfg.Channels {
		r.in.chanIdx[cfg.Channels[i].ID] = i
	}
	r.in.entries = make([][]discEntry, len(cfg.Channels))
	return nil
}

// exists reports whether p exists; a directory counts (reading it then gives
// a clear error).
func exists(p string) (bool, error) {
	_, err := os.Stat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot stat the file; check its permissions", Err: err}
}

func (r *reader) capabilities() error {
	p := filepath.Join(r.in.cfgRoot, CapabilitiesFile)
	ok, err := exists(p)
	if err != nil {
		return err
	}
	if !ok {
		r.addAbsent(configPrefix, r.configRel(p))
		return nil
	}
	t, src, err := readCapabilities(p)
	if err != nil {
		return err
	}
	r.in.caps = t
	r.addSource(configPrefix, r.configRel(p), src)
	return nil
}

// pricing reads config/pricing/<provider>_unified.json for every provider
// that a channel uses (sorted by key), then base_pricing_unified.json.
func (r *reader) pricing() error {
	dir := filepath.Join(r.in.cfgRoot, PricingDir)
	var keys []string
	for _, ch := range r.in.cfg.Channels {
		keys = append(keys, ch.Provider)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	popts := cache.PricingOptions{CNYToUSD: r.opts.CNYToUSD}
	r.in.provPrice = make(map[string]*cache.PriceTable, len(keys))
	read := func(p string) (*cache.PriceTable, error) {
		ok, err := exists(p)
		if err != nil || !ok {
			if err == nil {
				r.addAbsent(configPrefix, r.configRel(p))
			}
			return nil, err
		}
		done := r.progress(p)
		t, err := cache.ReadUnifiedPricing(p, popts, r.w)
		if err != nil {
			return nil, err
		}
		done(fmt.Sprintf("%d models", t.Len()))
		r.addSource(configPrefix, r.configRel(p), t.Source)
		return t, nil
	}
	for _, k := range keys {
		name := k + "_unified.json"
		if k == "" || name == cache.BasePricingFile || strings.ContainsAny(k, `/\`) {
			continue
		}
		t, err := read(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if t != nil {
			r.in.provPrice[k] = t
		}
	}
	t, err := read(filepath.Join(dir, cache.BasePricingFile))
	if err != nil {
		return err
	}
	r.in.base = t
	return nil
}

// pickCache finds one of two names of a cache file. When the preferred one
// is used, the other cannot change the result and is not recorded; when the
// alternative is used, the preferred one is recorded as absent (it would win
// if it appeared); when neither exists, both are.
func (r *reader) pickCache(find func(string, *diag.Warnings) (string, error), preferred, alt string) (string, error) {
	p, err := find(r.cacheDir, r.w)
	if err != nil {
		return "", err
	}
	switch {
	case p == "":
		r.addAbsent(cachePrefix, preferred)
		r.addAbsent(cachePrefix, alt)
	case filepath.Base(p) == alt:
		r.addAbsent(cachePrefix, preferred)
	}
	return p, nil
}

func (r *reader) discovery() error {
	p, err := r.pickCache(cache.FindDiscovery, cache.DiscoveryFile, cache.DiscoveryFileAlt)
	if err != nil || p == "" {
		return err
	}
	done := r.progress(p)
	n := 0
	src, err := cache.ReadDiscovery(p, r.w, func(key string, e *cache.DiscoveryEntry) error {
		n++
		ci, ok := r.in.chanIdx[key]
		hash := ""
		if !ok {
			id, h := cache.SplitKey(key)
			if h != "" {
				ci, ok = r.in.chanIdx[id]
				hash = strings.ToLower(h)
			}
		}
		if !ok {
			r.w.Add(e.Pos, groupUnknownChannel, "entry %q names no channel of the config; delete it or add the channel", key)
			return nil
		}
		r.in.entries[ci] = append(r.in.entries[ci], discEntry{e: e, hash: hash, order: n})
		return nil
	})
	if err != nil {
		return err
	}
	done(fmt.Sprintf("%d entries", n))
	r.addSource(cachePrefix, r.cacheRel(p), src)
	return nil
}

func (r *reader) pricingCaches() error {
	for _, name := range []string{cache.PricingCacheFile, cache.ModelPricingFile} {
		p := filepath.Join(r.cacheDir, name)
		ok, err := exists(p)
		if err != nil {
			return err
		}
		if !ok {
			r.addAbsent(cachePrefix, name)
			continue
		}
		t, err := cache.ReadPricingCache(p, r.w)
		if err != nil {
			return err
		}
		r.in.caches = append(r.in.caches, t)
		r.addSource(cachePrefix, r.cacheRel(p), t.Source)
	}
	return nil
}

func (r *reader) keyValidation() error {
	p, err := r.pickCache(cache.FindKeyValidation, cache.KeyValidationFile, cache.KeyValidationFileAlt)
	if err != nil || p == "" {
		return err
	}
	kv, err := cache.ReadKeyValidation(p, r.w)
	if err != nil {
		return err
	}
	r.in.kv = kv
	r.addSource(cachePrefix, r.cacheRel(p), kv.Source)
	return nil
}

// progressMin is the size from which a file gets a progress line.
const progressMin = 8 << 20

// progress prints a line before reading a large file and returns the
// function that prints its end.
func (r *reader) progress(p string) func(what string) {
	if r.opts.Progress == nil {
		return func(string) {}
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Size() < progressMin {
		return func(string) {}
	}
	start := time.Now()
	fmt.Fprintf(r.opts.Progress, "reading %s (%.1f MB)...\n", p, float64(fi.Size())/1e6)
	return func(what string) {
		el := time.Since(start)
		fmt.Fprintf(r.opts.Progress, "read %s: %s in %d ms (%.0f MB/s)\n", p, what, el.Milliseconds(),
			float64(fi.Size())/1e6/max(el.Seconds(), 1e-9))
	}
}
