package compiler

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/vocab"
)

// builder joins the inputs into a model.
type builder struct {
	opts    Options
	w       *diag.Warnings
	in      *inputs
	chans   []chanCtx
	quality []vocab.QualityRule
}

// result is a finished build.
type result struct {
	model *format.Model
	data  []byte
	tags  int
}

// Build compiles the installation in configDir and cacheDir into a model:
// canonical (format.Model.Canonicalize has been applied, so pair ordinals
// are those of the file) and complete, prewarm lists included. Warnings go
// to w (which may be nil). Input errors are *diag.Error values naming the
// file and the place in it.
func Build(configDir, cacheDir string, opts Options, w *diag.Warnings) (*format.Model, error) {
	r, err := build(configDir, cacheDir, opts, w, 1)
	if err != nil {
		return nil, err
	}
	return r.model, nil
}

// BuildBytes is Build followed by format.Encode: the bytes of the snapshot
// file. The server uses it to serve straight from the JSON caches when the
// snapshot file is missing or stale.
func BuildBytes(configDir, cacheDir string, opts Options, w *diag.Warnings) ([]byte, error) {
	r, err := build(configDir, cacheDir, opts, w, 1)
	if err != nil {
		return nil, err
	}
	return r.data, nil
}

// build runs the whole pipeline; gen is the generation used when
// opts.Generation is 0 and the build is not reproducible.
func build(configDir, cacheDir string, opts Options, w *diag.Warnings, gen uint64) (*result, error) {
	if w == nil {
		w = new(diag.Warnings)
	}
	start := time.Now()
	in, err := readInputs(configDir, cacheDir, opts, w)
	if err != nil {
		return nil, err
	}
	opts.phase(PhaseBuild)
	b := &builder{opts: opts, w: w, in: in}
	m := b.model()
	switch {
	case opts.Reproducible:
		m.Generation, m.BuildTime = 1, 0
	default:
		m.Generation = gen
		if opts.Generation != 0 {
			m.Generation = opts.Generation
		}
		m.BuildTime = start.UnixNano()
		if !opts.BuildTime.IsZero() {
			m.BuildTime = opts.BuildTime.UnixNano()
		}
	}
	if !opts.SourceDate.IsZero() {
		m.BuildTime = opts.SourceDate.UnixNano()
	}
	if err := m.Canonicalize(); err != nil {
		return nil, fmt.Errorf("compiler: the joined model is inconsistent: %w", err)
	}
	opts.phase(PhaseEncode)
	res, err := b.prewarm(m, in.cfg.Routing.Prewarm, in.learned)
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "built %d pairs of %d channels in %d ms\n", len(m.Pairs), len(m.Channels), time.Since(start).Milliseconds())
	}
	return res, nil
}

// model assembles the format.Model (not yet canonical, no prewarm).
func (b *builder) model() *format.Model {
	cfg := b.in.cfg
	m := &format.Model{
		Settings:   settings(cfg),
		Sources:    b.in.sources,
		ClientKeys: clientKeys(cfg),
	}
	m.Fingerprint = format.SourcesFingerprint(m.Sources)
	var provIdx map[string]uint32
	m.Providers, provIdx = providers(cfg)
	for _, r := range m.Settings.Quality {
		b.quality = append(b.quality, vocab.QualityRule{Substring: r.Substring, Score: r.Score})
	}

	m.Channels = make([]format.Channel, len(cfg.Channels))
	b.chans = make([]chanCtx, len(cfg.Channels))
	for i := range cfg.Channels {
		ch := &cfg.Channels[i]
		m.Channels[i] = channel(cfg, ch, provIdx[ch.Provider])
		cc := &b.chans[i]
		cc.ch, cc.fch, cc.rate = ch, &m.Channels[i], 1
		if ch.Currency != nil && ch.Currency.Rate > 0 {
			cc.rate = ch.Currency.Rate
		}
		cc.prov = b.in.provPrice[ch.Provider]
		cc.entry = chooseEntry(ch, b.in.entries[i], b.w)
		for _, a := range ch.Aliases {
			cc.aliases = append(cc.aliases, vocab.Alias{Standard: a.Standard, Target: a.Target})
		}
		cc.chCaps = fromList(ch.Capabilities)
	}

	// Pairs per channel, in any visiting order, merged in channel order.
	perChan := make([][]draft, len(cfg.Channels))
	order := make([]int, len(cfg.Channels))
	for i := range order {
		order[i] = i
	}
	if b.opts.shuffle != nil {
		b.opts.shuffle.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	b.runPairs(order, perChan)
	n := 0
	for ci, ds := range perChan {
		n += len(ds)
		if len(ds) == 0 && cfg.Channels[ci].Enabled {
			b.w.Add(cfg.Channels[ci].Pos, groupNoModels, "channel %q has no models: no discovery entry or an empty one, no configured_models, and model_name is auto; it cannot serve requests", cfg.Channels[ci].ID)
		}
	}
	m.Pairs = make([]format.Pair, 0, n)
	modelIdx := make(map[string]uint32)
	for _, ds := range perChan {
		for i := range ds {
			d := &ds[i]
			mi, ok := modelIdx[d.id]
			if !ok {
				mi = uint32(len(m.Models))
				modelIdx[d.id] = mi
				m.Models = append(m.Models, format.ModelInfo{Name: d.id})
			}
			info := &m.Models[mi]
			if info.OwnedBy == "" {
				info.OwnedBy = d.ownedBy
			}
			if info.Created == 0 {
				info.Created = d.created
			}
			d.pair.Model = mi
			m.Pairs = append(m.Pairs, d.pair)
		}
	}
	m.KeyStates = keyStates(b.in, b.w)
	return m
}

// parallelMin is the number of channels from which pairs are built by
// several goroutines.
const parallelMin = 16

// runPairs builds the pairs of the channels in order into perChan, on up to
// GOMAXPROCS goroutines. Channels share nothing they write (each has its own
// discovery entry; pricing tables and the capability table are read-only
// once read; warnings are safe for concurrent use), and the result is merged
// in channel order afterwards, so the output does not depend on scheduling.
func (b *builder) runPairs(order []int, perChan [][]draft) {
	workers := min(runtime.GOMAXPROCS(0), len(order)/parallelMin+1)
	if b.opts.Workers > 0 {
		workers = min(workers, b.opts.Workers)
	}
	if b.opts.shuffle != nil || workers <= 1 {
		for _, ci := range order {
			perChan[ci] = b.channelPairs(ci)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(order) {
					return
				}
				perChan[order[i]] = b.channelPairs(order[i])
			}
		}()
	}
	wg.Wait()
}
