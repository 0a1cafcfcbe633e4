package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

const secretKey = "sk-or-v1-0123456789abcdefSECRET"

const sampleDiscovery = `{
  "openrouter_free": {
    "channel_id": "openrouter_free",
    "provider": "openrouter",
    "base_url": "https://openrouter.ai/api/v1",
    "models_url": "https://openrouter.ai/api/v1/models",
    "models": ["qwen/qwen3-30b-a3b:free", "anthropic/claude-3-haiku-20240307", "openrouter/auto"],
    "models_data": {
      "qwen/qwen3-30b-a3b:free": {
        "id": "qwen/qwen3-30b-a3b:free", "object": "model", "created": 1745878604, "owned_by": null,
        "context_length": 40960, "max_input_tokens": 40960, "max_output_tokens": null,
        "parameter_count": 30000, "parameter_size_text": "30b",
        "pricing": {"prompt": "0", "completion": "0", "request": "0"},
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"], "tokenizer": "Qwen3", "instruct_type": null}
      },
      "anthropic/claude-3-haiku-20240307": {
        "id": "anthropic/claude-3-haiku-20240307", "object": "model", "created": 1710288000.0,
        "context_length": 200000, "max_output_tokens": 4096,
        "pricing": {"prompt": 2.5e-07, "completion": "0.00000125", "request": null},
        "architecture": {"modality": "text+image->text", "input_modalities": ["text", "image"]}
      },
      "openrouter/auto": {
        "id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}
      }
    },
    "models_pricing": {
      "qwen/qwen3-30b-a3b:free": {"prompt": 0, "completion": 0, "is_free": true, "provider": "openrouter"}
    },
    "model_count": 3,
    "last_updated": "2025-09-12T16:31:37.135249",
    "status": "success",
    "cache_key": "openrouter_free_1a2b3c4d",
    "api_key_hash": "1a2b3c4d",
    "api_key": "` + secretKey + `",
    "user_level": "free",
    "response_data": {"data": [{"id": "qwen/qwen3-30b-a3b:free", "description": "` + secretKey + ` is not kept", "pricing": {"prompt": "0"}}, [1, 2.5, true, null, "\u00e9"]]}
  },
  "groq_main_9f86d081": {
    "channel_id": "groq_main",
    "provider": "groq",
    "models": ["llama-3.1-8b-instant"],
    "model_count": 1,
    "status": "success_fallback",
    "note": "Fallback to configured models due to HTTP 401"
  },
  "siliconflow_cn": {
    "channel_id": "siliconflow_cn",
    "provider": "siliconflow",
    "models": [],
    "model_count": 0,
    "last_updated": "2025-09-12 16:31:37",
    "status": "error",
    "error": "HTTP 503: upstream unavailable"
  }
}`

type gotEntry struct {
	key string
	e   *DiscoveryEntry
}

func decodeAll(t *testing.T, doc string) ([]gotEntry, *diag.Warnings, error) {
	t.Helper()
	w := &diag.Warnings{}
	var got []gotEntry
	err := DecodeDiscovery(strings.NewReader(doc), "discovered_models.json", w, func(key string, e *DiscoveryEntry) error {
		got = append(got, gotEntry{key, e})
		return nil
	})
	return got, w, err
}

func TestDiscoverySample(t *testing.T) {
	got, w, err := decodeAll(t, sampleDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3", len(got))
	}
	or := got[0].e
	if got[0].key != "openrouter_free" || or.ChannelID != "openrouter_free" || or.Provider != "openrouter" ||
		or.BaseURL != "https://openrouter.ai/api/v1" || or.ModelsURL != "https://openrouter.ai/api/v1/models" ||
		or.Status != StatusSuccess || or.UserLevel != "free" || or.KeyHash != "1a2b3c4d" || or.ModelCount != 3 {
		t.Errorf("entry fields: %+v", or)
	}
	if or.LastUpdated != 1757694697 {
		t.Errorf("last_updated = %d", or.LastUpdated)
	}
	if !reflect.DeepEqual(or.Models, []string{"qwen/qwen3-30b-a3b:free", "anthropic/claude-3-haiku-20240307", "openrouter/auto"}) {
		t.Errorf("models = %q", or.Models)
	}
	if len(or.ModelsData) != 3 {
		t.Fatalf("models_data has %d items", len(or.ModelsData))
	}
	q := or.Data("qwen/qwen3-30b-a3b:free")
	wantQ := ModelData{
		ID: "qwen/qwen3-30b-a3b:free", Object: "model", Created: 1745878604, ContextLength: 40960, MaxInputTokens: 40960,
		ParamsM: 30000, ParamSizeText: "30b", Price: Price{0, 0, 0, format.PriceUnknown},
		Architecture: Architecture{Modality: "text->text", InputModalities: []string{"text"}, OutputModalities: []string{"text"}, Tokenizer: "Qwen3"},
	}
	if q == nil || !reflect.DeepEqual(*q, wantQ) {
		t.Errorf("qwen data:\n got %+v\nwant %+v", q, wantQ)
	}
	h := or.Data("anthropic/claude-3-haiku-20240307")
	if h == nil || h.Price.Input != 250_000 || h.Price.Output != 1_250_000 || h.Price.Request != format.PriceUnknown ||
		h.Created != 1710288000 || h.MaxOutputTokens != 4096 || h.Architecture.InputModalities[1] != "image" {
		t.Errorf("haiku data: %+v", h)
	}
	if a := or.Data("openrouter/auto"); a == nil || a.Price.Input != format.PriceUnknown || a.Price.Output != format.PriceUnknown {
		t.Errorf("negative prices must become unknown: %+v", a)
	}
	if or.Data("missing") != nil {
		t.Error("Data found a missing model")
	}
	if p := or.PriceOf("qwen/qwen3-30b-a3b:free"); p == nil || !p.IsFree || p.Input != 0 || p.Provider != "openrouter" {
		t.Errorf("models_pricing: %+v", p)
	}
	if or.Skipped != 2 {
		t.Errorf("Skipped = %d, want 2 (two negative prices)", or.Skipped)
	}

	g := got[1].e
	if id, hash := SplitKey(got[1].key); id != "groq_main" || hash != "9f86d081" || g.ChannelID != "groq_main" ||
		g.Status != StatusSuccessFallback || !strings.Contains(g.Note, "HTTP 401") || g.ModelCount != 1 {
		t.Errorf("groq entry: key %q %+v", got[1].key, g)
	}
	s := got[2].e
	if s.Status != StatusError || s.Error != "HTTP 503: upstream unavailable" || len(s.Models) != 0 || s.LastUpdated != 1757694697 {
		t.Errorf("error entry: %+v", s)
	}
	if s.Pos.File != "discovered_models.json" || s.Pos.JSONPath != "$.siliconflow_cn" || s.Pos.Offset <= 0 {
		t.Errorf("entry position: %+v", s.Pos)
	}

	// Only the two negative prices are warned about, at their own paths.
	list := w.List()
	if len(list) != 2 {
		t.Fatalf("warnings: %+v", list)
	}
	for i, f := range []string{"prompt", "completion"} {
		wp := `$.openrouter_free.models_data["openrouter/auto"].pricing.` + f
		if list[i].Group != GroupBadPrice || list[i].Pos.JSONPath != wp || !strings.Contains(list[i].Msg, "negative") {
			t.Errorf("warning %d: %+v, want path %s", i, list[i], wp)
		}
		off := int64(strings.Index(sampleDiscovery, `"-1"`))
		if i == 1 {
			off = int64(strings.LastIndex(sampleDiscovery, `"-1"`))
		}
		if list[i].Pos.Offset != off {
			t.Errorf("warning %d at byte %d, want %d", i, list[i].Pos.Offset, off)
		}
	}

	// The plaintext key is nowhere in what was read.
	for _, ge := range got {
		if strings.Contains(fmt.Sprintf("%#v", ge.e), "SECRET") {
			t.Errorf("entry %s holds the api key", ge.key)
		}
	}
	var out bytes.Buffer
	w.Print(&out, 0)
	if strings.Contains(out.String(), "SECRET") {
		t.Error("warnings print the api key")
	}
}

func TestSplitKey(t *testing.T) {
	tests := []struct{ key, id, hash string }{
		{"openrouter_free", "openrouter_free", ""},
		{"openrouter_free_1a2b3c4d", "openrouter_free", "1a2b3c4d"},
		{"ch_DEADBEEF", "ch", "DEADBEEF"},
		{"ch_1a2b3c4g", "ch_1a2b3c4g", ""},
		{"_1a2b3c4d", "_1a2b3c4d", ""},
		{"x_1a2b3c4", "x_1a2b3c4", ""},
		{"ch-1a2b3c4d", "ch-1a2b3c4d", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		id, hash := SplitKey(tc.key)
		if id != tc.id || hash != tc.hash {
			t.Errorf("SplitKey(%q) = %q, %q; want %q, %q", tc.key, id, hash, tc.id, tc.hash)
		}
	}
}

func TestDiscoveryWrongTypes(t *testing.T) {
	doc := `{
  "a": "not an entry",
  "b": {"channel_id": "b", "models": "gpt-4o", "model_count": "many", "status": 3},
  "c": {"channel_id": "c", "models": ["x", 7, null, "y"], "models_data": {"x": [], "y": {"pricing": {"prompt": "free", "completion": {}}, "context_length": -5}}},
  "d": [1, 2],
  "e": {"channel_id": "e", "models": ["z"], "status": "weird", "extra_field": 1, "extra_field2": 2}
}`
	got, w, err := decodeAll(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, g := range got {
		keys = append(keys, g.key)
	}
	if !reflect.DeepEqual(keys, []string{"b", "c", "e"}) {
		t.Fatalf("entries read: %q, want b c e", keys)
	}
	b, c, e := got[0].e, got[1].e, got[2].e
	if b.Models != nil || b.ModelCount != -1 || b.Status != "" || b.Skipped != 3 {
		t.Errorf("b: %+v", b)
	}
	if !reflect.DeepEqual(c.Models, []string{"x", "y"}) || len(c.ModelsData) != 1 || c.ModelsData[0].ID != "y" {
		t.Errorf("c: %+v", c)
	}
	if y := c.Data("y"); y == nil || y.Price.Input != format.PriceUnknown || y.Price.Output != format.PriceUnknown || y.ContextLength != 0 {
		t.Errorf("c.y: %+v", y)
	}
	if !reflect.DeepEqual(e.Models, []string{"z"}) || e.Status != "weird" {
		t.Errorf("e: %+v", e)
	}
	want := map[string]string{ // path → group
		"$.a":                                  GroupWrongType,
		"$.b.models":                           GroupWrongType,
		"$.b.model_count":                      GroupBadValue,
		"$.b.status":                           GroupWrongType,
		"$.c.models[1]":                        GroupWrongType,
		"$.c.models_data.x":                    GroupWrongType,
		"$.c.models_data.y.pricing.prompt":     GroupBadPrice,
		"$.c.models_data.y.pricing.completion": GroupWrongType,
		"$.c.models_data.y.context_length":     GroupBadValue,
		"$.d":                                  GroupWrongType,
		"$.e.status":                           GroupUnknownEnum,
		"$.e.extra_field":                      GroupUnknownKey,
		"$.e.extra_field2":                     GroupUnknownKey,
	}
	list := w.List()
	gotPaths := map[string]string{}
	for _, x := range list {
		gotPaths[x.Pos.JSONPath] = x.Group
		if x.Pos.File != "discovered_models.json" {
			t.Errorf("warning without the file name: %+v", x)
		}
		if x.Pos.Offset <= 0 || x.Pos.Offset >= int64(len(doc)) {
			t.Errorf("warning offset %d out of range: %+v", x.Pos.Offset, x)
		}
	}
	if !reflect.DeepEqual(gotPaths, want) {
		t.Errorf("warnings:\n got %v\nwant %v", gotPaths, want)
	}
	// The offset of a skipped entry is where its value starts.
	for _, x := range list {
		if x.Pos.JSONPath == "$.a" && x.Pos.Offset != int64(strings.Index(doc, `"not an entry"`)) {
			t.Errorf("$.a warned at %d", x.Pos.Offset)
		}
	}
}

func TestDiscoveryUnknownKeyWarnedOnce(t *testing.T) {
	doc := `{"a": {"zz": 1, "models": []}, "b": {"zz": 2}}`
	_, w, err := decodeAll(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if n := w.Len(); n != 1 {
		t.Fatalf("%d warnings, want one for the unknown key: %+v", n, w.List())
	}
}

func TestDiscoveryBadFiles(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		off  int64
		path string
		msg  string
	}{
		{"empty", "", 0, "$", "empty"},
		{"whitespace only", "\n\n", 2, "$", "truncated"},
		{"not JSON", "<!DOCTYPE html>", 0, "$", "not valid JSON"},
		{"top-level list", `[{"a": 1}]`, 0, "$", "must be a JSON object"},
		{"truncated in response_data", sampleDiscovery[:strings.Index(sampleDiscovery, `[1, 2.5`)+4], int64(strings.Index(sampleDiscovery, `[1, 2.5`) + 4), "$.openrouter_free.response_data", "truncated"},
		{"truncated in models_data", sampleDiscovery[:strings.Index(sampleDiscovery, `"parameter_count": 30000`)+20], int64(strings.Index(sampleDiscovery, `"parameter_count": 30000`) + 20), `$.openrouter_free.models_data["qwen/qwen3-30b-a3b:free"]`, "truncated"},
		{"non-UTF-8 in a string", `{"a": {"note": "caf` + "\xe9" + `"}}`, 19, "$.a.note", "UTF-8"},
		{"non-UTF-8 in skipped data", `{"a": {"response_data": ["` + "\xc3\x28" + `"]}}`, 26, "$.a.response_data", "UTF-8"},
		{"latin-1 byte outside strings", "{\"a\": \xe9}", 6, "$.a", "UTF-8"},
		{"trailing garbage", `{"a": {}} {}`, 10, "$", "after the end"},
		{"missing comma", `{"a": {} "b": {}}`, 9, "$", `',' or '}'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			_, _, err := decodeAll(t, tc.doc)
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Fatalf("got %v (%d entries), want a *diag.Error", err, n)
			}
			if de.Pos.File != "discovered_models.json" || de.Pos.Offset != tc.off || de.Pos.JSONPath != tc.path || !strings.Contains(de.Msg, tc.msg) {
				t.Fatalf("got %q (offset %d, path %s), want %q at %d %s", de.Error(), de.Pos.Offset, de.Pos.JSONPath, tc.msg, tc.off, tc.path)
			}
		})
	}
}

func TestDiscoveryCallbackErrorStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := DecodeDiscovery(strings.NewReader(sampleDiscovery), "x", nil, func(string, *DiscoveryEntry) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d calls", err, n)
	}
}

func TestReadDiscoveryFileSource(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, DiscoveryFile)
	if err := os.WriteFile(p, []byte(sampleDiscovery), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	src, err := ReadDiscovery(p, nil, func(string, *DiscoveryEntry) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	want := format.Source{Path: p, Size: int64(len(sampleDiscovery)), ModTime: st.ModTime().UnixNano(), Hash: xxhash.Sum64String(sampleDiscovery)}
	if src != want || n != 3 {
		t.Fatalf("source %+v (%d entries), want %+v", src, n, want)
	}

	// A directory and a missing file are clear errors.
	if _, err := ReadDiscovery(dir, nil, func(string, *DiscoveryEntry) error { return nil }); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	_, err = ReadDiscovery(filepath.Join(dir, "nope.json"), nil, func(string, *DiscoveryEntry) error { return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestFindDiscovery(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		want    string
		warning bool
	}{
		{"none", nil, "", false},
		{"preferred only", []string{DiscoveryFile}, DiscoveryFile, false},
		{"alternative only", []string{DiscoveryFileAlt}, DiscoveryFileAlt, false},
		{"both", []string{DiscoveryFile, DiscoveryFileAlt}, DiscoveryFile, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w := &diag.Warnings{}
			got, err := FindDiscovery(dir, w)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tc.want != "" {
				want = filepath.Join(dir, tc.want)
			}
			if got != want || (w.Len() == 1) != tc.warning {
				t.Fatalf("got %q with %d warnings, want %q warning=%v", got, w.Len(), want, tc.warning)
			}
			if tc.warning && w.List()[0].Group != GroupFileChoice {
				t.Fatalf("warning group %q", w.List()[0].Group)
			}
		})
	}
}

// bigResponseData builds a discovery cache whose first entry carries a
// response_data of about size bytes, followed by a normal entry.
func bigResponseData(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"big": {"channel_id": "big", "models": ["m"], "response_data": {"data": [`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id": "vendor/model-%d", "object": "model", "created": 1710288000, "owned_by": "vendor", "description": "A model with a long description, caf\u00e9 \u4e2d\u6587, number %d.", "pricing": {"prompt": "0.0000001", "completion": "0.0000002"}, "context_length": 131072}`, i, i)
	}
	b.WriteString(`]}, "status": "success"}, "after": {"channel_id": "after", "models": ["n"], "status": "success"}}`)
	return b.Bytes()
}

// TestResponseDataIsNotBuilt checks, by allocation counting, that a 20 MB
// response_data is streamed past rather than built in memory.
func TestResponseDataIsNotBuilt(t *testing.T) {
	doc := bigResponseData(20 << 20)
	var keys []string
	read := func() error {
		keys = keys[:0]
		return DecodeDiscovery(bytes.NewReader(doc), "big.json", nil, func(k string, e *DiscoveryEntry) error {
			keys = append(keys, k)
			return nil
		})
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := read(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	if !reflect.DeepEqual(keys, []string{"big", "after"}) {
		t.Fatalf("entries %q", keys)
	}
	t.Logf("20 MB response_data: %d bytes allocated", allocated)
	// The read buffer (256 KiB) and a few small values; nothing that grows
	// with the 20 MB skipped.
	if allocated > 1<<20 {
		t.Fatalf("reading a 20 MB response_data allocated %d bytes", allocated)
	}
}

// TestDiscoveryAllocsPerEntry guards the per-entry cost of the reader.
func TestDiscoveryAllocsPerEntry(t *testing.T) {
	doc := []byte(sampleDiscovery)
	allocs := testing.AllocsPerRun(20, func() {
		_ = DecodeDiscovery(bytes.NewReader(doc), "x", nil, func(string, *DiscoveryEntry) error { return nil })
	})
	t.Logf("%v allocations per read", allocs)
	// Kept strings, slices and entries: about 80 today. Far more would mean
	// the skipped parts or the keys allocate.
	if allocs > 150 {
		t.Fatalf("%v allocations per read of the sample", allocs)
	}
}

var _ io.Reader = (*hashReader)(nil)
