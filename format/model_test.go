package format

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// handModel is a small model that sets every field of every type to a
// distinct, non-zero value, already in canonical order.
func handModel() *Model {
	return &Model{
		Generation:  7,
		BuildTime:   1700000000123456789,
		Fingerprint: 0x0123456789abcdef,
		Settings: Settings{
			Usage: UsageSettings{Configured: true, Enabled: true, Path: "data/usage.db", RetentionDays: 30, QueueSize: 2048},
			Host:  "127.0.0.1", Port: 8080, Debug: true,
			CORSOrigins:      []string{"https://a.example", "https://b.example"},
			RequestTimeoutMs: 30000, MaxRequestSize: 10 << 20, ConnectTimeoutMs: 5000, ReadTimeoutMs: 60000,
			AuthEnabled: true, APIToken: Secret{Env: "ROUTER_TOKEN"},
			AdminEnabled: true, AdminToken: Secret{Literal: "admin-literal"},
			DefaultStrategy: "balanced", EnableFallback: true, MaxRetryAttempts: 3,
			ErrorCooldownSec: 60, HealthCheckIntervalSec: 300, StripReasoning: true, ResponseMetadata: true,
			DefaultInputPrice: 2_000_000, DefaultOutputPrice: 8_000_000,
			MinContextLength: 4096, MinParamsM: 7000,
			ExcludeEmbeddingModels: true, ExcludeVisionOnlyModels: true,
			Quality: []QualityRule{{Substring: "gpt-4", Score: 0.95}, {Substring: "mini", Score: 0.6}},
			Strategies: []Strategy{
				{Name: "cheap", Fields: []StrategyField{{Field: "cost", Weight: 0.8, Asc: true}, {Field: "quality", Weight: 0.2}}},
				{Name: "fast", Fields: []StrategyField{{Field: "speed", Weight: 1}}},
			},
			Tasks: []Task{
				{Name: "model_discovery", Enabled: true, IntervalSec: 3600, RunOnStartup: true, MaxConcurrent: 4},
				{Name: "health_check", Enabled: false, IntervalSec: 300},
			},
			MemoryLimitBytes: 500 << 20, ConfigLoadTimeoutMs: 15000, CacheLoadTimeoutMs: 30000,
		},
		Sources: []Source{
			{Path: "config.yaml", Size: 1234, ModTime: 1700000000000000001, Hash: 0xdeadbeef},
			{Path: "cache/models.json", Size: 99999, ModTime: 1700000000000000002, Hash: 0xfeedface},
		},
		Providers: []Provider{
			{Key: "openai", Name: "OpenAI", DisplayName: "OpenAI Inc", Adapter: "openai", BaseURL: "https://api.openai.com/v1",
				AuthType: AuthBearer, RateLimit: 60, Capabilities: []string{"chat", "vision"}},
			{Key: "anthropic", Name: "Anthropic", DisplayName: "Anthropic PBC", Adapter: "anthropic", BaseURL: "https://api.anthropic.com",
				AuthType: AuthXAPIKey, RateLimit: 50, Capabilities: []string{"chat"}},
		},
		Channels: []Channel{
			{ID: "ch-a", Name: "Channel A", Provider: 0, ModelName: "auto", APIKey: Secret{Env: "OPENAI_KEY"},
				BaseURLs: []string{"https://api.openai.com/v1", "https://backup.example/v1"}, Enabled: true,
				Priority: -1, Weight: 1.5, DailyLimit: 1000, MinRequestIntervalMs: 250, SpeedScore: 0.7,
				CurrencyRate: 7.2, Tags: []string{"premium"}, Capabilities: []string{"tools"},
				Aliases: []Alias{{Standard: "gpt4", Target: "gpt-4o"}}},
			{ID: "ch-b", Name: "Channel B", Provider: 1, ModelName: "claude-3", APIKey: Secret{Literal: "sk-literal"},
				BaseURLs: []string{"https://api.anthropic.com"}, Enabled: false, Priority: 2, Weight: 0.5,
				DailyLimit: 50, MinRequestIntervalMs: 10, SpeedScore: 0.3, CurrencyRate: 1,
				Tags: []string{"backup", "slow"}, Capabilities: []string{"vision"},
				Aliases: []Alias{{Standard: "claude", Target: "claude-3-opus"}, {Standard: "haiku", Target: "claude-3-haiku"}}},
		},
		Models: []ModelInfo{
			{Name: "claude-3-opus", OwnedBy: "anthropic", Created: 1709251200},
			{Name: "gpt-4o", OwnedBy: "openai", Created: 1715367049},
			{Name: "text-embedding-3", OwnedBy: "openai", Created: 1705953180},
		},
		Pairs: []Pair{
			{Channel: 1, Model: 0, InputPrice: 15_000_000, OutputPrice: 75_000_000, RequestPrice: 0,
				ContextLength: 200000, MaxOutputTokens: 4096, ParamsM: 0, Caps: CapVisionKnown | CapVision,
				Flags: 0, ParameterScore: 0.5, ContextScore: 0.9, QualityScore: 0.95, FreeScore: 0, LocalScore: 0,
				Tags: []string{"anthropic", "claude", "vision"}},
			{Channel: 0, Model: 1, InputPrice: 2_500_000, OutputPrice: 10_000_000, RequestPrice: 1,
				ContextLength: 128000, MaxOutputTokens: 16384, ParamsM: 200000, Caps: CapToolsKnown | CapTools | CapVisionKnown | CapVision,
				Flags: FlagLocal, ParameterScore: 0.8, ContextScore: 0.7, QualityScore: 0.9, FreeScore: 0.1, LocalScore: 1,
				Tags: []string{"gpt", "openai", "vision"}},
			{Channel: 1, Model: 1, InputPrice: PriceUnknown, OutputPrice: PriceUnknown, RequestPrice: PriceUnknown,
				ContextLength: 0, MaxOutputTokens: 0, ParamsM: 0, Caps: 0,
				Flags: FlagFree, ParameterScore: 0.1, ContextScore: 0.2, QualityScore: 0.3, FreeScore: 1, LocalScore: 0.25,
				Tags: []string{"free", "gpt"}},
			{Channel: 0, Model: 2, InputPrice: 20_000, OutputPrice: 0, RequestPrice: 0,
				ContextLength: 8191, MaxOutputTokens: 0, ParamsM: 350, Caps: CapToolsKnown,
				Flags: FlagEmbedding | FlagChatExcluded, ParameterScore: 0.05, ContextScore: 0.1, QualityScore: 0.4, FreeScore: 0, LocalScore: 0,
				Tags: []string{"embedding", "openai"}},
		},
		Prewarm: []Prewarm{
			{Query: "claude", Pairs: []uint32{0}},
			{Query: "gpt-4o", Pairs: []uint32{1, 2}},
		},
		KeyStates: []KeyState{
			{Channel: 0, Valid: true, ErrorType: "", StatusCode: 200, LatencyMs: 123, Timestamp: 1700000100, ConsecutiveFailures: 0, HealthScore: 0.98},
			{Channel: 1, Valid: false, ErrorType: "quota_exceeded", StatusCode: 429, LatencyMs: 45, Timestamp: 1700000200, ConsecutiveFailures: 3, HealthScore: -1},
		},
	}
}

// readBack rebuilds a Model from a Snapshot through the public accessors,
// with Pair.Tags taken from PairTags.
func readBack(s *Snapshot) *Model {
	h := s.Header()
	m := &Model{
		Generation: h.Generation, BuildTime: h.BuildTime, Fingerprint: h.Fingerprint,
		Settings: *s.Settings(), Sources: s.Sources(), Providers: s.Providers(), Channels: s.Channels(),
		Prewarm: s.Prewarm(), KeyStates: s.KeyStates(),
	}
	for i := 0; i < s.NumModels(); i++ {
		m.Models = append(m.Models, s.Model(uint32(i)))
	}
	for i := 0; i < s.NumPairs(); i++ {
		p := s.Pair(uint32(i))
		p.Tags = s.PairTags(uint32(i))
		m.Pairs = append(m.Pairs, p)
	}
	return m
}

// normalise makes empty slices nil throughout, so that DeepEqual compares
// content only.
func normalise(m *Model) *Model {
	c := m.clone()
	normValue(reflect.ValueOf(c).Elem())
	return c
}

func normValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			normValue(v.Index(i))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				normValue(v.Field(i))
			}
		}
	}
}

func modelsEqual(a, b *Model) bool { return reflect.DeepEqual(a, b) }

func TestRoundTrip(t *testing.T) {
	m := handModel()
	before := normalise(m)
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalise(m), before) {
		t.Fatal("Encode modified its argument")
	}
	s, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	want := m.clone()
	if err := want.Canonicalize(); err != nil {
		t.Fatal(err)
	}
	got := readBack(s)
	if !reflect.DeepEqual(normalise(got), normalise(want)) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	h := s.Header()
	if h.Major != Major || h.Minor != Minor || h.FileSize != uint64(len(b)) || h.SectionCount != uint32(numSections) {
		t.Fatalf("header = %+v", h)
	}
	for i, mi := range want.Models {
		o, ok := s.LookupModel(mi.Name)
		if !ok || o != uint32(i) {
			t.Errorf("LookupModel(%q) = %d, %v; want %d", mi.Name, o, ok, i)
		}
		first, n := s.ModelPairs(uint32(i))
		for j := first; j < first+n; j++ {
			if s.Pair(j).Model != uint32(i) {
				t.Errorf("pair %d in range of model %d has model %d", j, i, s.Pair(j).Model)
			}
		}
	}
	for _, name := range []string{"", "GPT-4O", "gpt-4", "gpt-4o ", "nope"} {
		if o, ok := s.LookupModel(name); ok {
			t.Errorf("LookupModel(%q) = %d, true; want not found", name, o)
		}
	}
	// Tags: dictionary sorted, cardinality matches bitmap, LookupTag agrees.
	wantTags := map[string][]uint32{}
	for i, p := range want.Pairs {
		for _, tg := range p.Tags {
			wantTags[tg] = append(wantTags[tg], uint32(i))
		}
	}
	if s.NumTags() != len(wantTags) {
		t.Fatalf("NumTags = %d, want %d", s.NumTags(), len(wantTags))
	}
	prev := ""
	for i := 0; i < s.NumTags(); i++ {
		name, card := s.Tag(uint32(i))
		if name <= prev {
			t.Errorf("tag %d %q not after %q", i, name, prev)
		}
		prev = name
		if got := s.TagPairs(uint32(i)).ToArray(); !slices.Equal(got, wantTags[name]) || card != uint32(len(got)) {
			t.Errorf("tag %q: pairs %v card %d, want %v", name, got, card, wantTags[name])
		}
		if j, ok := s.LookupTag(name); !ok || j != uint32(i) {
			t.Errorf("LookupTag(%q) = %d, %v", name, j, ok)
		}
	}
	if _, ok := s.LookupTag("missing"); ok {
		t.Error("LookupTag(missing) found")
	}
	if len(s.Sections()) != numSections {
		t.Errorf("Sections() has %d entries", len(s.Sections()))
	}
}

func TestAccessorsOutOfRange(t *testing.T) {
	b, err := Encode(handModel())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	big := uint32(math.MaxUint32)
	if !reflect.DeepEqual(s.Pair(big), Pair{}) || s.Model(big) != (ModelInfo{}) || s.TagPairs(big).GetCardinality() != 0 {
		t.Error("out-of-range accessors should return zero values")
	}
	if f, n := s.ModelPairs(big); f != 0 || n != 0 {
		t.Error("ModelPairs out of range")
	}
	if name, c := s.Tag(big); name != "" || c != 0 {
		t.Error("Tag out of range")
	}
	if s.PairTags(big) != nil {
		t.Error("PairTags out of range")
	}
}

func TestWriteMatchesEncode(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, handModel()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), goldenBytes(t)) {
		t.Fatal("Write and Encode differ")
	}
	if err := Write(failWriter{}, handModel()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Write to a failing writer = %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEmptyModel(t *testing.T) {
	b, err := Encode(&Model{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumModels() != 0 || s.NumPairs() != 0 || s.NumTags() != 0 || s.Prewarm() != nil || s.Channels() != nil {
		t.Fatal("empty model should give an empty snapshot")
	}
	if _, ok := s.LookupModel("x"); ok {
		t.Fatal("lookup in an empty snapshot found something")
	}
	if _, ok := s.LookupTag("x"); ok {
		t.Fatal("tag lookup in an empty snapshot found something")
	}
}

func TestFormatErrorMessage(t *testing.T) {
	b := goldenBytes(t)
	le.PutUint16(b[hOffMajor:], Major+1)
	_, err := Open(b)
	msg := err.Error()
	for _, want := range []string{"header", "byte 8", "too new", "upgrade routerd"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	b = goldenBytes(t)
	e := entry(t, b, "pairs")
	b[e.off+1] ^= 1
	_, err = Open(b)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Off != int64(e.off) || !strings.Contains(err.Error(), "rebuild it with routerc") {
		t.Errorf("error = %v; want a pairs checksum error at byte %d", err, e.off)
	}
}
