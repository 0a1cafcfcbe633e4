package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"smartrouter/compiler/diag"
)

const keyValidationDoc = `{
  "validation_results": {
    "openrouter_free": {
      "channel_id": "openrouter_free", "provider": "openrouter", "api_key": "` + secretKey + `",
      "is_valid": true, "error_type": null, "error_message": null, "status_code": 200,
      "latency_ms": 412.7, "timestamp": "2025-09-12 16:31:37.135249",
      "models_discovered": [{"id": "a"}, {"id": "b"}], "model_count": 2
    },
    "groq_main": {
      "channel_id": "groq_main", "api_key": "` + secretKey + `", "is_valid": false,
      "error_type": "invalid_key", "error_message": "HTTP 401: Invalid API Key ` + secretKey + `",
      "status_code": 401, "latency_ms": 88, "timestamp": "2025-09-12T16:31:37+08:00"
    },
    "odd": {"is_valid": false, "error_type": "invalid_response", "status_code": 70000},
    "weird": {"is_valid": "no", "error_type": "cosmic_rays"},
    "notobj": 5
  },
  "key_status": {
    "groq_main": {"channel_id": "groq_main", "api_key": "` + secretKey + `", "is_valid": true,
      "consecutive_failures": 3, "health_score": 0.0, "last_validated": "2025-09-12T16:31:37",
      "next_validation": "2025-09-13T16:31:37", "usage_stats": {"models_count": 0}},
    "only_status": {"is_valid": false, "consecutive_failures": 1, "health_score": 0.7},
    "bad_score": {"health_score": 1.5}
  },
  "last_update": "2025-09-12T16:31:40.000001"
}`

func TestKeyValidation(t *testing.T) {
	w := &diag.Warnings{}
	kv, err := DecodeKeyValidation(strings.NewReader(keyValidationDoc), "api_key_validation.json", w)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range kv.Verdicts {
		ids = append(ids, v.ChannelID)
	}
	if !reflect.DeepEqual(ids, []string{"openrouter_free", "groq_main", "odd", "weird", "only_status", "bad_score"}) {
		t.Fatalf("verdicts for %q", ids)
	}
	if kv.LastUpdate != 1757694700 {
		t.Errorf("last_update %d", kv.LastUpdate)
	}
	or := kv.Lookup("openrouter_free")
	if !or.HasResult || or.HasStatus || !or.Valid || !or.ValidKnown || or.ErrorType != "" || or.StatusCode != 200 ||
		or.LatencyMs != 413 || or.Timestamp != 1757694697 || or.HealthScore != -1 {
		t.Errorf("openrouter_free: %+v", or)
	}
	g := kv.Lookup("groq_main")
	// validation_results wins over key_status for is_valid.
	if !g.HasResult || !g.HasStatus || g.Valid || g.ErrorType != "invalid_key" || g.StatusCode != 401 || g.LatencyMs != 88 ||
		g.Timestamp != 1757694697-8*3600 || g.ConsecutiveFailures != 3 || g.HealthScore != 0 ||
		g.LastValidated != 1757694697 || g.NextValidation != 1757694697+86400 {
		t.Errorf("groq_main: %+v", g)
	}
	if o := kv.Lookup("odd"); o.ErrorType != "unknown" || o.StatusCode != 0 || o.Valid || !o.ValidKnown {
		t.Errorf("odd: %+v", o)
	}
	if o := kv.Lookup("weird"); o.ValidKnown || o.ErrorType != "unknown" {
		t.Errorf("weird: %+v", o)
	}
	if o := kv.Lookup("only_status"); o.HasResult || !o.HasStatus || o.Valid || !o.ValidKnown || o.HealthScore != 0.7 || o.ConsecutiveFailures != 1 {
		t.Errorf("only_status: %+v", o)
	}
	if o := kv.Lookup("bad_score"); o.HealthScore != -1 {
		t.Errorf("bad_score: %+v", o)
	}
	if kv.Lookup("notobj") != nil || kv.Lookup("nobody") != nil {
		t.Error("found a verdict that should not exist")
	}
	got := map[string]string{}
	for _, x := range w.List() {
		got[x.Pos.JSONPath] = x.Group
	}
	want := map[string]string{
		"$.validation_results.odd.status_code":  GroupBadValue,
		"$.validation_results.weird.is_valid":   GroupWrongType,
		"$.validation_results.weird.error_type": GroupUnknownEnum,
		"$.validation_results.notobj":           GroupWrongType,
		"$.key_status.bad_score.health_score":   GroupBadValue,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n got %v\nwant %v", got, want)
	}
	// Positions point at the value, past the whitespace after the colon.
	for _, x := range w.List() {
		if x.Pos.JSONPath == "$.validation_results.odd.status_code" && x.Pos.Offset != int64(strings.Index(keyValidationDoc, "70000")) {
			t.Errorf("status_code warned at %d", x.Pos.Offset)
		}
	}
	if want := int64(strings.Index(keyValidationDoc, `"groq_main": {`) + len(`"groq_main": `)); g.Pos.Offset != want || g.Pos.JSONPath != "$.validation_results.groq_main" {
		t.Errorf("groq_main position %+v, want offset %d", g.Pos, want)
	}
	if strings.Contains(fmt.Sprintf("%#v", kv), "SECRET") {
		t.Error("the result holds an api key")
	}
}

func TestKeyValidationFiles(t *testing.T) {
	for _, name := range []string{KeyValidationFile, KeyValidationFileAlt} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name), []byte(keyValidationDoc), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := FindKeyValidation(dir, nil)
			if err != nil || p != filepath.Join(dir, name) {
				t.Fatalf("FindKeyValidation = %q, %v", p, err)
			}
			kv, err := ReadKeyValidation(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(kv.Verdicts) != 6 || kv.Source.Hash != xxhash.Sum64String(keyValidationDoc) || kv.Source.Size != int64(len(keyValidationDoc)) {
				t.Fatalf("%+v", kv.Source)
			}
		})
	}
	dir := t.TempDir()
	for _, n := range []string{KeyValidationFile, KeyValidationFileAlt} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(`{}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := &diag.Warnings{}
	if p, err := FindKeyValidation(dir, w); err != nil || p != filepath.Join(dir, KeyValidationFile) || w.Len() != 1 {
		t.Fatalf("both: %q %v %d warnings", p, err, w.Len())
	}
}

func TestKeyValidationBadFiles(t *testing.T) {
	tests := []struct{ doc, path, msg string }{
		{``, "$", "empty"},
		{`{"validation_results": {"a": {"is_valid": tru`, "$.validation_results.a.is_valid", "truncated"},
		{`{"validation_results": {"a": {"api_key": "sk-` + "\xff" + `"}}}`, "$.validation_results.a.api_key", "UTF-8"},
		{`null`, "$", "must be a JSON object"},
	}
	for _, tc := range tests {
		_, err := DecodeKeyValidation(strings.NewReader(tc.doc), "k.json", nil)
		var de *diag.Error
		if !errors.As(err, &de) || de.Pos.JSONPath != tc.path || !strings.Contains(de.Msg, tc.msg) {
			t.Errorf("%q: got %v", tc.doc, err)
		}
		// The error message never echoes a key.
		if err != nil && strings.Contains(err.Error(), "sk-") {
			t.Errorf("error echoes input: %v", err)
		}
	}
}
