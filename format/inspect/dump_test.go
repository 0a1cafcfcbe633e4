package inspect

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
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
