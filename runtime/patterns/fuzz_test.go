package patterns

import "testing"

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"updated_at":"2026-01-01T00:00:00Z","total":3,"models":[{"model":"gpt-4o","count":3,"error":0}]}`))
	f.Add([]byte(`{"version":1,"models":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := Parse(b)
		if err != nil {
			return
		}
		if len(pf.Models) > MaxK {
			t.Fatalf("%d entries kept", len(pf.Models))
		}
		s := New(8)
		s.Merge(pf.Models)
		if st := s.Stats(); st.Tracked > 8 {
			t.Fatalf("stats %+v", st)
		}
	})
}
