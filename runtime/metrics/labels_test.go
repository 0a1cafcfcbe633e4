package metrics

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func metricLines(t *testing.T, m *Metrics, prefix string) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// Only the TopModels models with the most requests keep their name; a
// model that overtakes one of them takes its place; channels are labelled
// by id; counts carry across a new LabelSet (a snapshot swap).
func TestModelLabelsAreBounded(t *testing.T) {
	m := New(Options{})
	var names []string
	for i := range TopModels + 10 {
		names = append(names, fmt.Sprintf("model-%02d", i))
	}
	ls := m.LabelSet([]string{"ch-a", "ch-b"}, names)
	// model-i gets 100-i requests per round: model-00..model-19 are the
	// top. A model enters the top at the next ranking (a scrape): its
	// first round counts under other.
	round := func() {
		for i := range names {
			for range 100 - i {
				ls.Answered(ls.Channels[i%2], ls.Models[i], 10, 5, 0.001)
			}
		}
	}
	round()
	if lines := metricLines(t, m, "smartrouter_model_requests_total{"); len(lines) != TopModels+1 {
		t.Fatalf("%d model series after the first ranking, want %d", len(lines), TopModels+1)
	}
	round()
	lines := metricLines(t, m, "smartrouter_model_requests_total{")
	if len(lines) != TopModels+1 {
		t.Fatalf("%d model series, want %d:\n%s", len(lines), TopModels+1, strings.Join(lines, "\n"))
	}
	joined := strings.Join(lines, "\n")
	if !strings.Contains(joined, `model="model-00"} 100`) || strings.Contains(joined, `model="model-20"`) {
		t.Errorf("series:\n%s", joined)
	}
	var other float64
	for i := range names {
		other += float64(100 - i) // the first round
		if i >= TopModels {
			other += float64(100 - i)
		}
	}
	if !strings.Contains(joined, fmt.Sprintf(`model="other"} %g`, other)) {
		t.Errorf("other != %g:\n%s", other, joined)
	}
	// model-29 overtakes model-19 after a swap to a new label set.
	ls = m.LabelSet([]string{"ch-a", "ch-b"}, names)
	for range 200 {
		ls.Answered(nil, ls.Models[29], 1, 1, 0)
	}
	joined = strings.Join(metricLines(t, m, "smartrouter_model_requests_total{"), "\n")
	if !strings.Contains(joined, `model="model-29"}`) || strings.Contains(joined, `model="model-19"`) {
		t.Errorf("after model-29 overtook model-19:\n%s", joined)
	}
	ch := strings.Join(metricLines(t, m, "smartrouter_channel_requests_total{"), "\n")
	if !strings.Contains(ch, `channel="ch-a"}`) || !strings.Contains(ch, `channel="ch-b"}`) {
		t.Errorf("channel series:\n%s", ch)
	}
}

// Recording on a label set allocates nothing.
func TestLabelSetRecordingDoesNotAllocate(t *testing.T) {
	m := New(Options{})
	ls := m.LabelSet([]string{"ch-a"}, []string{"m"})
	if n := testing.AllocsPerRun(1000, func() {
		ls.Attempt(ls.Channels[0], ls.Models[0])
		ls.Answered(ls.Channels[0], ls.Models[0], 3, 4, 0.5)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
