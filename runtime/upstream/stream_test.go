package upstream

import (
	"bytes"
	"errors"
	"io"
	"smartrouter/runtime/body"
	"strings"
	"testing"
	"testing/iotest"

	"smartrouter/runtime/outcome"
)

type streamItem struct {
	data      string
	done      bool
	usageOnly bool
	usage     string
}

func collect(s *Stream) ([]streamItem, error) {
	var out []streamItem
	for {
		ch, err := s.Next()
		if err != nil {
			return out, err
		}
		out = append(out, streamItem{string(ch.Data), ch.Done, ch.UsageOnly, string(ch.Usage)})
	}
}

func TestStreamParsing(t *testing.T) {
	long := `{"choices":[{"delta":{"content":"` + strings.Repeat("x", 100<<10) + `"}}]}`
	tests := []struct {
		name  string
		input string
		want  []streamItem
		err   error // io.EOF, or a Kind via kindErr
		kind  outcome.Kind
	}{
		{"plain", "data: {\"a\":1}\n\ndata: [DONE]\n\n",
			[]streamItem{{data: `{"a":1}`}, {data: "[DONE]", done: true}}, io.EOF, 0},
		{"no space, CRLF, comments, other fields", ": keep-alive\r\nevent: message\r\nid: 3\r\ndata:{\"a\":1}\r\n\r\nretry: 10\ndata: [DONE]\r\n",
			[]streamItem{{data: `{"a":1}`}, {data: "[DONE]", done: true}}, io.EOF, 0},
		{"two spaces keep one", "data:  x\n", []streamItem{{data: " x"}}, io.EOF, 0},
		{"usage-only and usage-in-chunk", "data: {\"choices\":[ ],\"usage\":{\"total_tokens\":3}}\n" +
			"data: {\"choices\":[{}],\"usage\":{\"total_tokens\":4}}\n" +
			"data: {\"choices\":[],\"usage\":null}\n",
			[]streamItem{{data: `{"choices":[ ],"usage":{"total_tokens":3}}`, usageOnly: true, usage: `{"total_tokens":3}`},
				{data: `{"choices":[{}],"usage":{"total_tokens":4}}`, usage: `{"total_tokens":4}`},
				{data: `{"choices":[],"usage":null}`}}, io.EOF, 0},
		{"no [DONE] after data", "data: a\n\ndata: b", []streamItem{{data: "a"}, {data: "b"}}, io.EOF, 0},
		{"nothing after [DONE] is read", "data: [DONE]\n\ndata: late\n", []streamItem{{data: "[DONE]", done: true}}, io.EOF, 0},
		{"non-JSON payload relayed", "data: hello\n", []streamItem{{data: "hello"}}, io.EOF, 0},
		{"long line", "data: " + long + "\n", []streamItem{{data: long}}, io.EOF, 0},
		{"empty stream", "", nil, nil, outcome.Server},
		{"only comments", ": ping\n\n: ping\n", nil, nil, outcome.Server},
		{"error first", "data: {\"error\":{\"message\":\"Too many requests\",\"code\":429}}\n", nil, nil, outcome.RateLimit},
		{"error null is not an error", "data: {\"error\":null,\"choices\":[]}\n", []streamItem{{data: `{"error":null,"choices":[]}`}}, io.EOF, 0},
		{"error after data", "data: {}\ndata: {\"error\":{\"message\":\"boom\"}}\n", []streamItem{{data: "{}"}}, nil, outcome.Server},
		{"bare JSON error", "{\"error\":{\"message\":\"no such model\",\"code\":404}}", nil, nil, outcome.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(NewStream(strings.NewReader(tt.input), 0))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d items %v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("item %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if tt.err != nil {
				if err != tt.err {
					t.Errorf("err = %v, want %v", err, tt.err)
				}
				return
			}
			ue := asError(t, err)
			if ue.Outcome.Kind != tt.kind || ue.Started != (len(tt.want) > 0) {
				t.Errorf("error %v kind %v started %v", ue, ue.Outcome.Kind, ue.Started)
			}
		})
	}
}

func TestStreamLineLimit(t *testing.T) {
	s := NewStream(strings.NewReader("data: "+strings.Repeat("y", 200<<10)+"\n"), 100<<10)
	_, err := s.Next()
	if ue := asError(t, err); ue.Outcome.Kind != outcome.Server || !strings.Contains(ue.Message, "longer than") {
		t.Errorf("got %v", err)
	}
	// The error sticks.
	if _, err2 := s.Next(); err2 != err {
		t.Errorf("second Next = %v", err2)
	}
}

func TestStreamReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("data: {}\n"), iotest.ErrReader(io.ErrUnexpectedEOF))
	s := NewStream(r, 0)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Next()
	ue := asError(t, err)
	if ue.Outcome.Kind != outcome.Connection || !ue.Started || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %+v started %v: %v", ue.Outcome, ue.Started, err)
	}
}

func TestStreamOneByteReads(t *testing.T) {
	in := "data: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n"
	got, err := collect(NewStream(iotest.OneByteReader(strings.NewReader(in)), 0))
	if err != io.EOF || len(got) != 2 || got[0].data != `{"a":1}` || !got[1].done {
		t.Errorf("got %v, %v", got, err)
	}
}

func FuzzStream(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[],\"usage\":{}}\n\ndata: [DONE]\n\n"), 64)
	f.Add([]byte(": c\r\nevent: e\ndata:{\"error\":{\"code\":\"429\"}}\n"), 16)
	f.Add([]byte("{\"error\":\"x\"}\ndata: \xff\n"), 1)
	f.Fuzz(func(t *testing.T, in []byte, maxLine int) {
		maxLine = 16 + (maxLine&0xffff)%(1<<12)
		s := NewStream(bytes.NewReader(in), maxLine)
		for n := 0; ; n++ {
			if n > len(in) {
				t.Fatal("more chunks than input bytes")
			}
			s.Pending() // reads only what is buffered; must not panic on any input
			ch, err := s.Next()
			if err != nil {
				var ue *Error
				if err != io.EOF && !errors.As(err, &ue) {
					t.Fatalf("error %v is neither io.EOF nor *Error", err)
				}
				return
			}
			if bytes.ContainsAny(ch.Data, "\n") || len(ch.Data) > maxLine {
				t.Fatalf("bad payload %q", ch.Data)
			}
			if !bytes.Contains(in, ch.Data) {
				t.Fatalf("payload %q not in input", ch.Data)
			}
			if ch.UsageOnly && ch.Usage == nil {
				t.Fatal("usage-only chunk without usage")
			}
		}
	})
}

// Pending tells whether Next can return without reading more input: a
// complete data line is buffered, or the stream is over.
func TestStreamPending(t *testing.T) {
	tests := []struct {
		name  string
		input string
		nexts int // calls of Next before asking
		want  bool
	}{
		{"nothing read yet", "data: {}\n\n", 0, false},
		{"second event buffered", "data: {\"a\":1}\n\ndata: {\"a\":2}\n\n", 1, true},
		{"only the blank line left", "data: {\"a\":1}\n\n", 1, false},
		{"partial line", "data: {\"a\":1}\n\ndata: {\"a\":", 1, false},
		{"comment and event line without data", "data: {}\n\n: ping\nevent: x\n", 1, false},
		{"data after a comment", "data: {}\n\n: ping\ndata: {}\n", 1, true},
		{"[DONE] buffered", "data: {}\n\ndata: [DONE]\n\n", 1, true},
		{"after [DONE]", "data: [DONE]\n\n", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One reader call per Next at most: the whole input arrives at once.
			s := NewStream(strings.NewReader(tt.input), 0)
			for i := 0; i < tt.nexts; i++ {
				if _, err := s.Next(); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Pending(); got != tt.want {
				t.Errorf("Pending() = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzUsageOrErrorShortcut checks the shortcut of Stream.Next: a payload
// for which mayHoldUsageOrError is false is one whose scan finds neither an
// error nor a usage object.
func FuzzUsageOrErrorShortcut(f *testing.F) {
	f.Add([]byte(`{"choices":[{"delta":{"content":"hi"}}]}`))
	f.Add([]byte(`{"choices":[],"usage":{"prompt_tokens":1}}`))
	f.Add([]byte(`{"error":{"message":"x"}}`))
	f.Add([]byte(`{"\u0065rror":{"message":"x"}}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		if mayHoldUsageOrError(p) {
			return
		}
		if ans := body.ScanOpenAIResponse(p); ans.Error != nil || ans.Usage != nil || ans.UsageOnly {
			t.Fatalf("the shortcut skips %q, whose scan finds %+v", p, ans)
		}
	})
}
