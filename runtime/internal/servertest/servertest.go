// Package servertest builds small snapshots by hand for the tests of routerd
// (runtime/server and runtime/internal/e2e): channels pointing at a mock
// upstream, their models with prices and capabilities, tags, flags and static
// scores derived with the compiler's own function (vocab.DerivePair), encoded
// with format.Encode and written to disk by rename, as routerc does.
//
// It sits in runtime/internal so that nothing outside runtime/ can import it;
// fixtures/layering keeps the production packages of runtime/
// from importing it too.
package servertest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"

	"smartrouter/format"
	"smartrouter/format/vocab"
)

// Model is one model id a channel serves.
type Model struct {
	ID       string
	In, Out  uint64 // pico-USD per token; 0 with Unknown false means free
	Unknown  bool   // prices unknown
	Ctx      uint64 // context length, 0 unknown
	Caps     uint32 // format.Cap* bits
	ParamsM  uint64 // millions of parameters; 0: from the id
	ReqPrice uint64 // per-request price, pico-USD (0: none)
}

// Channel is one test channel.
type Channel struct {
	ID       string
	Name     string // "" = ID
	Provider string // provider key; "" = "mock"
	// Adapter and AuthType are those of the provider (the first channel
	// of a provider key sets them): "" = OpenAIAdapter, 0 = Bearer.
	Adapter  string
	AuthType uint8
	BaseURL  string // the mock's URL
	Key      format.Secret
	Disabled bool
	Priority int32
	Weight   float64 // 0 = 1
	Tags     []string
	Aliases  []format.Alias
	Models   []Model
	// DailyLimit is the channel's daily_limit; RateLimit its provider's
	// rate_limit (taken from the provider's first channel).
	DailyLimit uint64
	RateLimit  uint32
}

// Spec is a whole test snapshot.
type Spec struct {
	Generation uint64
	BuildTime  int64
	Settings   format.Settings
	Channels   []Channel
	Sources    []format.Source
	KeyStates  []format.KeyState
	ClientKeys []format.ClientKey
}

// DefaultSettings are the settings of a freshly compiled config: metadata
// on, reasoning stripped, 3 attempts, cost_first, 10 MiB bodies, short
// upstream timeouts suited to tests.
func DefaultSettings() format.Settings {
	return format.Settings{
		Host: "127.0.0.1", Port: 7601, MaxRequestSize: 10 << 20,
		RequestTimeoutMs: 30_000, ConnectTimeoutMs: 2_000, ReadTimeoutMs: 10_000,
		DefaultStrategy: "cost_first", EnableFallback: true, MaxRetryAttempts: 3,
		StripReasoning: true, ResponseMetadata: true,
		DefaultInputPrice: 500_000, DefaultOutputPrice: 1_500_000,
	}
}

// Model builds the format.Model of the spec.
func (s *Spec) Model() (*format.Model, error) {
	m := &format.Model{
		Generation: s.Generation, BuildTime: s.BuildTime, Settings: s.Settings,
		Sources: s.Sources, KeyStates: s.KeyStates, ClientKeys: s.ClientKeys, Fingerprint: format.SourcesFingerprint(s.Sources),
	}
	if m.BuildTime == 0 {
		m.BuildTime = 1_750_000_000_000_000_000 + int64(s.Generation)
	}
	provIdx := map[string]uint32{}
	modelIdx := map[string]uint32{}
	seen := map[string]bool{}
	for _, c := range s.Channels {
		if seen[c.ID] {
			return nil, fmt.Errorf("duplicate channel id %q", c.ID)
		}
		seen[c.ID] = true
		pk := c.Provider
		if pk == "" {
			pk = "mock"
		}
		pi, ok := provIdx[pk]
		if !ok {
			pi = uint32(len(m.Providers))
			provIdx[pk] = pi
			adapter := c.Adapter
			if adapter == "" {
				adapter = "OpenAIAdapter"
			}
			m.Providers = append(m.Providers, format.Provider{Key: pk, Name: pk, DisplayName: pk,
				Adapter: adapter, BaseURL: c.BaseURL, AuthType: c.AuthType, RateLimit: c.RateLimit})
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		w := c.Weight
		if w == 0 {
			w = 1
		}
		ci := uint32(len(m.Channels))
		m.Channels = append(m.Channels, format.Channel{
			ID: c.ID, Name: name, Provider: pi, ModelName: "auto", APIKey: c.Key,
			BaseURLs: []string{c.BaseURL}, Enabled: !c.Disabled, Priority: c.Priority, Weight: w,
			CurrencyRate: 1, Tags: c.Tags, Aliases: c.Aliases, DailyLimit: c.DailyLimit,
		})
		var aliases []vocab.Alias
		for _, a := range c.Aliases {
			aliases = append(aliases, vocab.Alias{Standard: a.Standard, Target: a.Target})
		}
		for _, md := range c.Models {
			mi, ok := modelIdx[md.ID]
			if !ok {
				mi = uint32(len(m.Models))
				modelIdx[md.ID] = mi
				m.Models = append(m.Models, format.ModelInfo{Name: md.ID, OwnedBy: pk, Created: 1_700_000_000})
			}
			in, out := md.In, md.Out
			if md.Unknown {
				in, out = format.PriceUnknown, format.PriceUnknown
			}
			req := uint64(format.PriceUnknown)
			if md.ReqPrice > 0 {
				req = md.ReqPrice
			}
			params := md.ParamsM
			if params == 0 {
				params, _ = vocab.ParamsFromID(md.ID)
			}
			pr := format.Pair{
				Channel: ci, Model: mi, InputPrice: in, OutputPrice: out, RequestPrice: req,
				ContextLength: md.Ctx, ParamsM: params, Caps: md.Caps,
			}
			vocab.DerivePair(&pr, vocab.Pair{ID: md.ID, Provider: pk, ChannelTags: c.Tags,
				Aliases: aliases, ZeroPrice: !md.Unknown && in == 0 && out == 0, BaseURLs: []string{c.BaseURL}}, nil)
			m.Pairs = append(m.Pairs, pr)
		}
	}
	return m, nil
}

// Encode returns the snapshot bytes of the spec.
func (s *Spec) Encode() ([]byte, error) {
	m, err := s.Model()
	if err != nil {
		return nil, err
	}
	return format.Encode(m)
}

// WriteFile encodes the spec to path by writing a temporary file in the
// same directory and renaming it over path (never in place: the old file
// may be mapped by a running server).
func (s *Spec) WriteFile(path string) error {
	b, err := s.Encode()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b)
}

// WriteFileAtomic writes b to path through a temporary file and a rename.
func WriteFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".snap-*")
	if err != nil {
		return fmt.Errorf("create a temporary snapshot file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write the snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write the snapshot: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("rename the snapshot into place: %w", err)
	}
	return nil
}

// Source records a file of dir (a config or cache folder) as the snapshot
// source "prefix/<rel>", the way the compiler does, so that the server can
// later find it stale.
func Source(prefix, dir, rel string) (format.Source, error) {
	p := filepath.Join(dir, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		return format.Source{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return format.Source{}, err
	}
	return format.Source{Path: prefix + "/" + filepath.ToSlash(rel), Size: st.Size(),
		ModTime: st.ModTime().UnixNano(), Hash: xxhash.Sum64(b)}, nil
}
