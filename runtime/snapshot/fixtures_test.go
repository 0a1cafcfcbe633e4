package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"

	"smartrouter/format"
)

// testModel is a small valid model. Its generation also appears as a model
// name ("gen-N") so that a reader can tell which file it is looking at.
func testModel(gen uint64, srcs []format.Source) *format.Model {
	return &format.Model{
		Generation:  gen,
		BuildTime:   1700000000000000000 + int64(gen),
		Fingerprint: format.SourcesFingerprint(srcs),
		Settings:    format.Settings{Host: "127.0.0.1", Port: 7601, DefaultStrategy: "balanced"},
		Sources:     srcs,
		Providers: []format.Provider{{Key: "openai", Name: "OpenAI", Adapter: "openai",
			BaseURL: "https://api.openai.com/v1", AuthType: format.AuthBearer}},
		Channels: []format.Channel{{ID: "ch-a", Name: "Channel A", Provider: 0, ModelName: "auto",
			APIKey: format.Secret{Env: "OPENAI_API_KEY"}, BaseURLs: []string{"https://api.openai.com/v1"},
			Enabled: true, Weight: 1}},
		Models: []format.ModelInfo{
			{Name: "gpt-4o", OwnedBy: "openai"},
			{Name: "gpt-4o-mini", OwnedBy: "openai"},
			{Name: fmt.Sprintf("gen-%d", gen), OwnedBy: "test"},
		},
		Pairs: []format.Pair{
			{Channel: 0, Model: 0, InputPrice: 2_500_000, OutputPrice: 10_000_000, Tags: []string{"gpt", "openai"}},
			{Channel: 0, Model: 1, InputPrice: 150_000, OutputPrice: 600_000, Tags: []string{"gpt", "mini"}},
			{Channel: 0, Model: 2, InputPrice: format.PriceUnknown, OutputPrice: format.PriceUnknown},
		},
	}
}

// bigModel has about n pairs over 40 channels, for benchmarks.
func bigModel(gen uint64, n int) *format.Model {
	m := testModel(gen, nil)
	m.Channels = m.Channels[:0]
	for c := range 40 {
		m.Channels = append(m.Channels, format.Channel{ID: fmt.Sprintf("ch-%02d", c), Name: fmt.Sprintf("Channel %d", c),
			ModelName: "auto", BaseURLs: []string{"https://example.invalid/v1"}, Enabled: true, Weight: 1})
	}
	m.Models, m.Pairs = m.Models[:0], m.Pairs[:0]
	for i := range n / 4 {
		m.Models = append(m.Models, format.ModelInfo{Name: fmt.Sprintf("vendor-%d/model-%05d", i%50, i), OwnedBy: "vendor"})
		for k := range 4 {
			m.Pairs = append(m.Pairs, format.Pair{Channel: uint32((i + k*7) % 40), Model: uint32(i),
				InputPrice: uint64(i), OutputPrice: uint64(2 * i), ContextLength: 8192,
				Tags: []string{fmt.Sprintf("vendor-%d", i%50), fmt.Sprintf("size-%d", i%8)}})
		}
	}
	return m
}

func encode(tb testing.TB, m *format.Model) []byte {
	tb.Helper()
	b, err := format.Encode(m)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	return b
}

// writeSnap replaces path by rename, never in place: the old file may be
// mapped by the manager under test.
func writeSnap(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := writeFileAtomic(path, b); err != nil {
		tb.Fatal(err)
	}
}

// setVersion returns a copy of b with the header's major version changed and
// the header checksum recomputed, so that only the version is wrong.
func setVersion(b []byte, major uint16) []byte {
	c := bytes.Clone(b)
	c[8], c[9] = byte(major), byte(major>>8)
	sum := crc32.Checksum(c[:124], crc32.MakeTable(crc32.Castagnoli))
	c[124], c[125], c[126], c[127] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
	return c
}

// tree is a config and a cache directory with source files in them.
type tree struct {
	cfg, cache string
}

func newTree(t *testing.T) tree {
	d := t.TempDir()
	tr := tree{cfg: filepath.Join(d, "config"), cache: filepath.Join(d, "cache")}
	for _, p := range []string{tr.cfg, tr.cache} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// file resolves "config/<rel>" or "cache/<rel>".
func (tr tree) file(rec string) string {
	if rel, ok := strings.CutPrefix(rec, "config/"); ok {
		return filepath.Join(tr.cfg, rel)
	}
	rel, _ := strings.CutPrefix(rec, "cache/")
	return filepath.Join(tr.cache, rel)
}

func (tr tree) write(t *testing.T, rec, content string) {
	t.Helper()
	if err := os.WriteFile(tr.file(rec), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sources records the given paths as the compiler would: size, mtime and
// hash, or Size -1 for an absent file.
func (tr tree) sources(t *testing.T, recs ...string) []format.Source {
	t.Helper()
	var out []format.Source
	for _, rec := range recs {
		p := tr.file(rec)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			out = append(out, format.Source{Path: rec, Size: -1})
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, format.Source{Path: rec, Size: int64(len(data)), ModTime: fi.ModTime().UnixNano(), Hash: xxhash.Sum64(data)})
	}
	return out
}

// quietLogger discards logs; logBuf keeps them for assertions.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// slot is what tests hang on Handle.Value.
type slot struct {
	gen  uint64
	held atomic.Int64 // readers inside the snapshot, counted independently of refs
}

// tracker records every handle the manager made and how often each drained.
type tracker struct {
	t         *testing.T
	mu        sync.Mutex
	published []*Handle
	drains    map[*Handle]int
	heldAtEnd atomic.Int64 // drains seen while a reader still held the handle
}

func newTracker(t *testing.T) *tracker { return &tracker{t: t, drains: make(map[*Handle]int)} }

func (tr *tracker) onPublish(h *Handle) error {
	h.Value = &slot{gen: h.Generation()}
	tr.mu.Lock()
	tr.published = append(tr.published, h)
	tr.mu.Unlock()
	return nil
}

func (tr *tracker) onDrain(h *Handle) {
	if s, ok := h.Value.(*slot); ok && s.held.Load() != 0 {
		tr.heldAtEnd.Add(1)
	}
	if h.refs.Load() != 0 {
		tr.t.Errorf("drain with refs=%d", h.refs.Load())
	}
	tr.mu.Lock()
	tr.drains[h]++
	tr.mu.Unlock()
}

func (tr *tracker) drainCount(h *Handle) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.drains[h]
}

// opts fills the tracker's hooks and a quiet logger into o.
func (tr *tracker) opts(o Options) Options {
	o.OnPublish = tr.onPublish
	o.onDrain = tr.onDrain
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	return o
}

func mustLoad(t testing.TB, o Options) *Manager {
	t.Helper()
	m, err := Load(context.Background(), o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return m
}

func reasonIs(t *testing.T, err error, want Reason) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *snapshot.Error", err, err)
	}
	if e.Reason != want {
		t.Fatalf("reason = %q, want %q (error: %v)", e.Reason, want, err)
	}
}
