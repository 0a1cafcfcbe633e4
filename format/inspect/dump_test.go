package inspect

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"smartrouter/format"
)

var update = flag.Bool("update", false, "rewrite the golden dump fixtures/small/router.dump")

const goldenDump = smallDir + "/router.dump"

// TestGoldenDump compiles the small fixture reproducibly and compares its
// dump with the committed one. After an intended change, review the diff of
//
//	go test ./format/inspect -run TestGoldenDump -update
func TestGoldenDump(t *testing.T) {
	s := compileDir(t, smallDir)
	var got bytes.Buffer
	if err := Dump(&got, s); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(goldenDump, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenDump)
	if err != nil {
		t.Fatalf("%v; create it with: go test ./format/inspect -run TestGoldenDump -update", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("dump differs from %s at line %d:\n got: %s\nwant: %s\n(go test ./format/inspect -run TestGoldenDump -update rewrites it)", goldenDump, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("dump differs from %s in length (%d vs %d lines)", goldenDump, len(gl), len(wl))
	}
}

// TestDumpMasksKeys checks that no literal key of the config reaches a dump.
func TestDumpMasksKeys(t *testing.T) {
	s := compileDir(t, demoDir)
	var out bytes.Buffer
	if err := Dump(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.Channels() {
		if c.APIKey.Literal == "" {
			continue
		}
		if strings.Contains(out.String(), c.APIKey.Literal) {
			t.Errorf("dump shows the key of %s", c.ID)
		}
	}
	if !strings.Contains(out.String(), "api_key: <literal, 12 chars>") {
		t.Error("dump does not describe the literal key key-fail-500 as <literal, 12 chars>")
	}
}

func TestMaskSecret(t *testing.T) {
	tests := []struct {
		env, lit, want string
	}{
		{"OPENAI_KEY", "", "${OPENAI_KEY}"},
		{"", "sk-abc", "<literal, 6 chars>"},
		{"", "密钥", "<literal, 2 chars>"},
		{"", "", "none"},
	}
	for _, tc := range tests {
		s := MaskSecret(formatSecret(tc.env, tc.lit))
		if s != tc.want {
			t.Errorf("MaskSecret(%q, %q) = %q, want %q", tc.env, tc.lit, s, tc.want)
		}
	}
}

func TestFormatPrice(t *testing.T) {
	tests := []struct {
		p    uint64
		want string
	}{
		{0, "$0.000000/M"},
		{150_000, "$0.150000/M"},
		{15_000_000, "$15.000000/M"},
		{1, "$0.000001/M"},
		{unk, "unknown"},
	}
	for _, tc := range tests {
		if got := FormatPrice(tc.p); got != tc.want {
			t.Errorf("FormatPrice(%d) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example/v1":                                  "https://api.example/v1",
		"https://user:pa%24s@api.example/v1":                      "https://user:REDACTED@api.example/v1",
		"https://sk-token@api.example/v1":                         "https://REDACTED@api.example/v1",
		"https://:secret@api.example":                             "https://REDACTED@api.example",
		"https://api.example/v1?key=AIza123&alt=sse":              "https://api.example/v1?key=REDACTED&alt=sse",
		"https://api.example/v1?api-version=2024&API_KEY=x#frag":  "https://api.example/v1?api-version=2024&API_KEY=REDACTED#frag",
		"https://api.example/?access_token=t&sig=s&X-Api-Key=k&n": "https://api.example/?access_token=REDACTED&sig=REDACTED&X-Api-Key=REDACTED&n",
		"https://api.example/path@v2?user=bob":                    "https://api.example/path@v2?user=bob",
		"not a url?token=abc":                                     "not a url?token=REDACTED",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// routerc dump (and diff, which shares the channel and provider lines) never
// prints a base URL's password or key parameter.
func TestDumpMasksBaseURLCredentials(t *testing.T) {
	dir := copyTree(t, demoDir)
	replaceIn(t, dir, mainYAML, `base_url: "http://127.0.0.1:7700/v1"`,
		`base_url: "http://admin:hunter2-base-pass@127.0.0.1:7700/v1?api_key=sk-query-secret-77&region=eu"`)
	s := compileDir(t, dir)
	var out bytes.Buffer
	if err := Dump(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2-base-pass", "sk-query-secret-77"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("the dump shows %q", secret)
		}
	}
	if !strings.Contains(out.String(), "http://admin:REDACTED@127.0.0.1:7700/v1?api_key=REDACTED&region=eu") {
		t.Errorf("the dump lost the masked base URL:\n%s", out.String())
	}
}

func FuzzMaskURL(f *testing.F) {
	for _, s := range []string{"https://u:p@h/v1?key=k", "h?x", "://@", "a://b@c@d/e?f=g&token=h#i"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := MaskURL(s)
		if MaskURL(m) != m {
			t.Fatalf("masking %q twice changed it: %q", m, MaskURL(m))
		}
	})
}

// TestMaskStateURL: state.redis_url is dumped without its password.
func TestMaskStateURL(t *testing.T) {
	for in, want := range map[format.Secret]string{
		{}:                                    "none",
		{Env: "ROUTER_REDIS_URL"}:             "${ROUTER_REDIS_URL}",
		{Literal: "redis://127.0.0.1:6379/0"}: `"redis://127.0.0.1:6379/0"`,
		{Literal: "rediss://:hunter2@cache:6380/1"}:    `"rediss://REDACTED@cache:6380/1"`,
		{Literal: "redis://user:hunter2@cache:6379/0"}: `"redis://user:REDACTED@cache:6379/0"`,
	} {
		if got := MaskStateURL(in); got != want {
			t.Errorf("MaskStateURL(%+v) = %s, want %s", in, got, want)
		}
	}
}
