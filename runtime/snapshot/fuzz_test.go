package snapshot

import (
	"context"
	"testing"
)

// FuzzLoadEmbedded feeds arbitrary bytes through Load. It must never panic,
// and every failure must carry a corrupt or version reason.
func FuzzLoadEmbedded(f *testing.F) {
	good := encode(f, testModel(1, nil))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(setVersion(good, 9))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			b = []byte{0} // Embedded == nil would mean "not configured"
		}
		m, err := Load(context.Background(), Options{Embedded: b, Logger: quietLogger()})
		if err != nil {
			if r := ReasonOf(err); r != ReasonCorrupt && r != ReasonVersion {
				t.Fatalf("reason %q for bad bytes: %v", r, err)
			}
			return
		}
		h := m.Acquire()
		_ = m.Info()
		h.Release()
		_ = m.Close()
	})
}
