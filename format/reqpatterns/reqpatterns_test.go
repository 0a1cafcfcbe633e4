package reqpatterns

import (
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	in := &File{Version: Version, UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Total: 9,
		Models: []Entry{{Model: "gpt-4o", Count: 6}, {Model: "tag:free", Count: 3, Error: 1}}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Total != 9 || len(out.Models) != 2 || out.Models[1] != in.Models[1] || !out.UpdatedAt.Equal(in.UpdatedAt) {
		t.Fatalf("%+v", out)
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	for name, in := range map[string]string{
		"not json":   "{",
		"version":    `{"version":2,"models":[]}`,
		"too large":  `{"version":1,"models":[]}` + strings.Repeat(" ", MaxFileSize),
		"wrong type": `{"version":1,"models":"x"}`,
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), "delete it") {
			t.Errorf("%s: %v", name, err)
		}
	}
	long := strings.Repeat("m", MaxModel+1)
	f, err := Parse([]byte(`{"version":1,"models":[{"model":""},{"model":"` + long + `"},{"model":"ok","count":2}]}`))
	if err != nil || len(f.Models) != 1 || f.Models[0].Model != "ok" {
		t.Fatalf("%+v %v", f, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"updated_at":"2026-01-01T00:00:00Z","total":3,"models":[{"model":"gpt-4o","count":3,"error":0}]}`))
	f.Add([]byte(`{"version":1,"models":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := Parse(b)
		if err != nil {
			return
		}
		if len(pf.Models) > MaxEntries {
			t.Fatalf("%d entries kept", len(pf.Models))
		}
		for _, e := range pf.Models {
			if e.Model == "" || len(e.Model) > MaxModel {
				t.Fatalf("entry %q kept", e.Model)
			}
		}
	})
}
