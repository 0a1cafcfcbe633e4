package compiler

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"smartrouter/compiler/diag"
)

// The functions below edit files of a copied fixture.
func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func replaceIn(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	s := readFile(t, dir, rel)
	if !strings.Contains(s, old) {
		t.Fatalf("%s does not contain %q", rel, old)
	}
	writeFile(t, dir, rel, strings.Replace(s, old, new, 1))
}

func makeDir(t *testing.T, dir, rel string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

const (
	mainYAML  = "config/router_config.yaml"
	discovery = "cache/discovered_models.json"
)

// TestBadInput runs every kind of bad input of the inputs spec through
// Compile: each must fail with a message naming the file and the place in
// it (line:column for YAML, byte offset for JSON), leave a previous output
// file untouched and leave no temporary file behind.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   []string // substrings of the error
		where  string   // regexp the error must match (the position)
	}{
		{"truncated discovery cache", func(t *testing.T, d string) {
			s := readFile(t, d, discovery)
			writeFile(t, d, discovery, s[:len(s)/2])
		}, []string{"discovered_models.json"}, `byte \d+`},
		{"non-JSON cache", func(t *testing.T, d string) {
			writeFile(t, d, discovery, "<html>502 Bad Gateway</html>\n")
		}, []string{"discovered_models.json"}, `byte 0`},
		{"text after the JSON value", func(t *testing.T, d string) {
			writeFile(t, d, "cache/pricing_cache.json", `{"gpt-4o": {"input": 1, "output": 2}} trailing`)
		}, []string{"pricing_cache.json"}, `byte \d+`},
		{"truncated key-validation cache", func(t *testing.T, d string) {
			s := readFile(t, d, "cache/api_key_validation_cache.json")
			writeFile(t, d, "cache/api_key_validation_cache.json", s[:100])
		}, []string{"api_key_validation_cache.json"}, `byte \d+`},
		{"duplicate channel ids", func(t *testing.T, d string) {
			replaceIn(t, d, mainYAML, `id: "groq_fast"`, `id: "openrouter_free"`)
		}, []string{"router_config.yaml", "openrouter_free"}, `:\d+:\d+`},
		{"channel naming no provider", func(t *testing.T, d string) {
			replaceIn(t, d, mainYAML, "    provider: \"groq\"\n", "")
		}, []string{"router_config.yaml", "provider"}, `:\d+:\d+`},
		{"negative YAML price", func(t *testing.T, d string) {
			replaceIn(t, d, mainYAML, "input: 0.00000005", "input: -0.00000005")
		}, []string{"router_config.yaml", "cost_per_token"}, `:\d+:\d+`},
		{"NaN YAML price", func(t *testing.T, d string) {
			replaceIn(t, d, mainYAML, "output: 0.00000008", "output: .nan")
		}, []string{"router_config.yaml", "cost_per_token"}, `:\d+:\d+`},
		{"0-byte config", func(t *testing.T, d string) { writeFile(t, d, mainYAML, "") },
			[]string{"router_config.yaml", "empty"}, ``},
		{"0-byte cache", func(t *testing.T, d string) { writeFile(t, d, discovery, "") },
			[]string{"discovered_models.json", "empty"}, `byte 0`},
		{"0-byte pricing file", func(t *testing.T, d string) { writeFile(t, d, "config/pricing/siliconflow_unified.json", "") },
			[]string{"siliconflow_unified.json"}, `byte 0`},
		{"0-byte capabilities file", func(t *testing.T, d string) { writeFile(t, d, "config/model_capabilities.json", "") },
			[]string{"model_capabilities.json", "empty"}, `byte 0`},
		{"YAML bomb", func(t *testing.T, d string) {
			var b strings.Builder
			b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
			for i := 1; i < 12; i++ {
				b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
				for j := 0; j < 10; j++ {
					if j > 0 {
						b.WriteString(", ")
					}
					b.WriteString("*a" + itoa(i-1))
				}
				b.WriteString("]\n")
			}
			writeFile(t, d, mainYAML, b.String()+readFile(t, d, mainYAML))
		}, []string{"router_config.yaml", "alias"}, `:\d+:\d+`},
		{"non-UTF-8 config", func(t *testing.T, d string) {
			replaceIn(t, d, mainYAML, `name: "Groq"`, "name: \"Gr\xffoq\"")
		}, []string{"router_config.yaml", "UTF-8"}, `:\d+:\d+`},
		{"non-UTF-8 cache", func(t *testing.T, d string) {
			replaceIn(t, d, discovery, `"owned_by": "Meta"`, "\"owned_by\": \"Me\xfeta\"")
		}, []string{"discovered_models.json", "UTF-8"}, `byte \d+`},
		{"non-UTF-8 capabilities", func(t *testing.T, d string) {
			writeFile(t, d, "config/model_capabilities.json", "{\"m\xff\": [\"vision\"]}")
		}, []string{"model_capabilities.json", "UTF-8"}, `byte 3`},
		{"capabilities of the wrong type", func(t *testing.T, d string) {
			writeFile(t, d, "config/model_capabilities.json", `{"a": ["vision"], "b": {"vision": "yes"}}`)
		}, []string{"model_capabilities.json", `$["b"].vision`}, `byte \d+`},
		{"directory instead of the discovery cache", func(t *testing.T, d string) { makeDir(t, d, discovery) },
			[]string{"discovered_models.json", "directory"}, ``},
		{"directory instead of a pricing file", func(t *testing.T, d string) { makeDir(t, d, "config/pricing/base_pricing_unified.json") },
			[]string{"base_pricing_unified.json", "directory"}, ``},
		{"directory instead of the capabilities file", func(t *testing.T, d string) { makeDir(t, d, "config/model_capabilities.json") },
			[]string{"model_capabilities.json", "directory"}, ``},
		{"directory instead of router_config.yaml", func(t *testing.T, d string) { makeDir(t, d, mainYAML) },
			[]string{"router_config.yaml", "directory"}, ``},
		{"unknown pricing unit", func(t *testing.T, d string) {
			replaceIn(t, d, "config/pricing/siliconflow_unified.json", `"per_million_tokens"`, `"per_fortnight"`)
		}, []string{"siliconflow_unified.json", "$.unit"}, `byte \d+`},
		{"auth enabled without a token", func(t *testing.T, d string) {
			replaceIn(t, d, mainYAML, `  api_token: "${ROUTER_API_TOKEN}"`+"\n", "")
		}, []string{"router_config.yaml"}, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t, smallDir)
			tc.mutate(t, dir)
			outDir := t.TempDir()
			out := filepath.Join(outDir, "router.snap")
			previous := []byte("previous snapshot, must survive a failed compile")
			if err := os.WriteFile(out, previous, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Compile(filepath.Join(dir, "config"), filepath.Join(dir, "cache"), out, Options{}, nil)
			if err == nil {
				t.Fatal("compile succeeded")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if tc.where != "" && !regexp.MustCompile(tc.where).MatchString(msg) {
				t.Errorf("error %q has no position matching %s", msg, tc.where)
			}
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Errorf("error %T is not a *diag.Error", err)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, previous) {
				t.Error("the previous output file was changed")
			}
			ents, _ := os.ReadDir(outDir)
			if len(ents) != 1 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("output directory holds %q, want only router.snap", names)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestBadInputNoOutput checks that a failed first compile creates no file.
func TestBadInputNoOutput(t *testing.T) {
	dir := copyTree(t, smallDir)
	writeFile(t, dir, discovery, `{"groq_fast": {"models": [`)
	out := filepath.Join(t.TempDir(), "router.snap")
	if _, err := Compile(filepath.Join(dir, "config"), filepath.Join(dir, "cache"), out, Options{}, nil); err == nil {
		t.Fatal("compile of a truncated cache succeeded")
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output exists after a failed compile: %v", err)
	}
}

// TestSkippedInput covers bad input that is skipped with a warning rather
// than refused: a discovery entry of the wrong type, a negative or NaN price
// in a cache (real OpenRouter answers list "-1"), an unknown channel.
func TestSkippedInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		group  string
		check  func(t *testing.T, dir string)
	}{
		{"entry of the wrong type", func(t *testing.T, d string) {
			replaceIn(t, d, discovery, `"retired_channel": {`, `"groq_fast_5e3c9a1f": 42, "retired_channel": {`)
		}, "cache: value of the wrong type (skipped)", nil},
		{"negative cache price", func(t *testing.T, d string) {
			replaceIn(t, d, discovery, `"prompt": "0.00000015", "completion": "0.0000006", "request": "0"`, `"prompt": "-0.00000015", "completion": "NaN", "request": "0"`)
		}, "cache: unusable price (treated as unknown)", nil},
		{"NaN token in a cache", func(t *testing.T, d string) {
			replaceIn(t, d, "cache/pricing_cache.json", `"input": 0.18`, `"input": NaN`)
		}, "cache: unusable price (treated as unknown)", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t, smallDir)
			tc.mutate(t, dir)
			var w diag.Warnings
			out := filepath.Join(t.TempDir(), "router.snap")
			if _, err := Compile(filepath.Join(dir, "config"), filepath.Join(dir, "cache"), out, Options{}, &w); err != nil {
				t.Fatalf("compile failed: %v", err)
			}
			found := false
			for _, x := range w.List() {
				if x.Group == tc.group && x.Pos.File != "" && strings.Contains(x.Pos.String(), "byte ") {
					found = true
				}
			}
			if !found {
				var b bytes.Buffer
				w.Print(&b, 0)
				t.Errorf("no positioned warning %q among:\n%s", tc.group, b.String())
			}
		})
	}
}

// TestForbidLiteralSecrets checks that the option turns literal keys into an
// error.
func TestForbidLiteralSecrets(t *testing.T) {
	out := filepath.Join(t.TempDir(), "router.snap")
	_, err := Compile(demoDir+"/config", demoDir+"/cache", out, Options{ForbidLiteralSecrets: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "router_config.yaml") {
		t.Fatalf("err = %v, want a positioned literal-secret error", err)
	}
	if strings.Contains(err.Error(), "key-fail-500") {
		t.Error("the error shows the key")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output written")
	}
}

// TestOutputPathErrors checks output paths that cannot be written.
func TestOutputPathErrors(t *testing.T) {
	dir := t.TempDir()
	cfg, cch := smallDir+"/config", smallDir+"/cache"
	for _, out := range []string{dir, filepath.Join(dir, "missing", "router.snap"), ""} {
		if _, err := Compile(cfg, cch, out, Options{}, nil); err == nil {
			t.Errorf("Compile to %q succeeded", out)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("files left in %s: %d", dir, len(ents))
	}
}

// TestMissingCacheDir compiles from the config alone.
func TestMissingCacheDir(t *testing.T) {
	var w diag.Warnings
	m, err := Build(smallDir+"/config", filepath.Join(t.TempDir(), "nothing"), Options{Reproducible: true}, &w)
	if err != nil {
		t.Fatal(err)
	}
	absent := 0
	for _, s := range m.Sources {
		if strings.HasPrefix(s.Path, "cache/") {
			if s.Size != -1 {
				t.Errorf("%s recorded with size %d", s.Path, s.Size)
			}
			absent++
		}
	}
	if absent != 6 {
		t.Errorf("%d cache sources recorded absent, want 6", absent)
	}
	if len(m.Pairs) == 0 {
		t.Error("no pairs from configured models")
	}
}
