package body

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestOpenAIToAnthropicRequest(t *testing.T) {
	in := `{"model":"x","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},
	{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
	{"role":"tool","tool_call_id":"c1","content":"42"}],"stop":"END","user":"u","tool_choice":"required",
	"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`
	out, err := OpenAIToAnthropicRequest(nil, []byte(in), "claude")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"claude","max_tokens":4096,"system":"be brief","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"42"}]}],"stop_sequences":["END"],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"metadata":{"user_id":"u"}}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if _, err := OpenAIToAnthropicRequest(nil, []byte(`{"messages":[{"role":"bogus","content":"x"}]}`), "m"); err == nil {
		t.Error("unknown role accepted")
	}
}

func TestAnthropicToOpenAIResponse(t *testing.T) {
	a := `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5}}`
	out, u, err := AnthropicToOpenAIResponse(nil, []byte(a), 7)
	if err != nil {
		t.Fatal(err)
	}
	if u.PromptTokens != 10 || u.CompletionTokens != 5 || !json.Valid(out) || !strings.Contains(string(out), `"finish_reason":"tool_calls"`) {
		t.Errorf("got %s %+v", out, u)
	}
}

func TestOpenAIStreamEvents(t *testing.T) {
	s := OpenAIStream{IncludeUsage: true}
	var dst []byte
	var err error
	for _, ev := range []string{
		`{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3,"output_tokens":0}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`,
		`{"type":"message_stop"}`,
	} {
		if dst, err = s.Event(dst, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	dst = s.End(dst)
	got := string(dst)
	for _, w := range []string{`"delta":{"content":"Hel"}`, `"finish_reason":"stop"`, `"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}`, "data: [DONE]"} {
		if !strings.Contains(got, w) {
			t.Errorf("stream lacks %s:\n%s", w, got)
		}
	}
}

func FuzzOpenAIToAnthropicRequest(f *testing.F) {
	f.Add([]byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := OpenAIToAnthropicRequest(nil, b, "m")
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
	})
}

func FuzzAnthropicToOpenAIResponse(f *testing.F) {
	f.Add([]byte(`{"type":"message","content":[{"type":"text","text":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := AnthropicToOpenAIResponse(nil, b, 0)
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		var s OpenAIStream
		_, _ = s.Event(nil, b)
	})
}

// FuzzAnthropicStreamEvents feeds the lines of the input as the data
// payloads of a Messages stream to both stream readers: neither may panic,
// the chat chunks must be valid SSE of JSON, the relay must keep each
// payload whole, and the usage never goes negative for non-negative input.
func FuzzAnthropicStreamEvents(f *testing.F) {
	f.Add([]byte(`{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}}
{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}
{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}
{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}
{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":2}}
{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := OpenAIStream{IncludeUsage: true}
		var r AnthropicRelay
		var out, rel []byte
		for _, line := range strings.Split(string(b), "\n") {
			var err error
			at := len(out)
			out, err = s.Event(out, []byte(line))
			if err != nil && len(out) != at {
				t.Fatalf("output appended with an error: %q", out[at:])
			}
			rel = r.Event(rel[:0], []byte(line))
			if !strings.HasSuffix(string(rel), "data: "+line+"\n\n") {
				t.Fatalf("relayed %q for %q", rel, line)
			}
		}
		out = s.End(out)
		for _, ev := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
			d, ok := strings.CutPrefix(ev, "data: ")
			if !ok || (d != "[DONE]" && !json.Valid([]byte(d))) {
				t.Fatalf("chunk %q", ev)
			}
		}
	})
}

func TestAnthropicRelayUsage(t *testing.T) {
	var r AnthropicRelay
	var out []byte
	for _, ev := range []string{
		`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":3,"cache_read_input_tokens":10,"output_tokens":1}}}`,
		`{"type": "ping"}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}`,
	} {
		out = r.Event(out, []byte(ev))
	}
	if u := r.Usage(); u.PromptTokens != 13 || u.CompletionTokens != 7 || u.TotalTokens != 20 {
		t.Errorf("usage %+v", u)
	}
	if !strings.HasPrefix(string(out), "event: message_start\ndata: {") || !strings.Contains(string(out), "\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n") {
		t.Errorf("relayed %s", out)
	}
	if u := AnthropicUsage([]byte(`{"type":"message","usage":{"input_tokens":5,"output_tokens":2,"cache_creation_input_tokens":1}}`)); u.PromptTokens != 6 || u.CompletionTokens != 2 {
		t.Errorf("AnthropicUsage %+v", u)
	}
	if u := AnthropicUsage([]byte(`{"usage":{"input_tokens":-5,"output_tokens":"2"}}`)); u != (Usage{}) {
		t.Errorf("bad counts read as %+v", u)
	}
}

func TestAnthropicRelayNoAllocs(t *testing.T) {
	var r AnthropicRelay
	start := []byte(`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":3,"output_tokens":1}}}`)
	delta := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`)
	answer := []byte(`{"type":"message","usage":{"input_tokens":5,"output_tokens":2}}`)
	out := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() {
		out = r.Event(out[:0], start)
		out = r.Event(out[:0], delta)
		AnthropicUsage(answer)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// The text delta, the common stream event, is translated without
// allocating, into the chunk the decoding path would make.
func TestOpenAIStreamTextDelta(t *testing.T) {
	ev := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"b\u2028"}}`)
	s := OpenAIStream{Created: 5}
	out, err := s.Event(nil, ev)
	want := `data: {"id":"","object":"chat.completion.chunk","created":5,"model":"","choices":[{"index":0,"delta":{"content":"a\"b\u2028"},"finish_reason":null}]}` + "\n\n"
	if err != nil || string(out) != want {
		t.Fatalf("got %q (%v)\nwant %q", out, err, want)
	}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf, _ = s.Event(buf[:0], ev) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestAnthropicToOpenAIResponseShapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"hm","signature":"s"},` +
			`{"type":"text","text":"a\"b"},{"type":"tool_use","id":"t1","name":"f","input":{"a":[1,2]}},{"type":"text","text":" c"},` +
			`{"type":"tool_use","id":"t2","name":"g","input":{}}],"stop_reason":"tool_use","stop_sequence":null,` +
			`"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":5}}`,
			`{"id":"msg_1","object":"chat.completion","created":7,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"a\"b c",` +
				`"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}},` +
				`{"id":"t2","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}],` +
				`"usage":{"prompt_tokens":15,"completion_tokens":5,"total_tokens":20}}`},
		{`{"type":"message","content":[],"stop_reason":"max_tokens"}`,
			`{"id":"","object":"chat.completion","created":7,"model":"","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"length"}],` +
				`"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`},
	} {
		out, _, err := AnthropicToOpenAIResponse(nil, []byte(tc.in), 7)
		if err != nil || string(out) != tc.want {
			t.Errorf("got  %s (%v)\nwant %s", out, err, tc.want)
		}
	}
	for _, bad := range []string{`{"type":"error"}`, `[]`, `{"type":"message","content":[1]}`, `{"type":"message"`} {
		if out, _, err := AnthropicToOpenAIResponse([]byte("x"), []byte(bad), 7); err == nil || string(out) != "x" {
			t.Errorf("%s: %s %v", bad, out, err)
		}
	}
	in := []byte(`{"id":"m","type":"message","model":"c","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`)
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf, _, _ = AnthropicToOpenAIResponse(buf[:0], in, 1) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestOpenAIStreamToolDeltas(t *testing.T) {
	s := OpenAIStream{Created: 5}
	var out []byte
	var err error
	for _, ev := range []string{
		`{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":4}}`,
	} {
		if out, err = s.Event(out, []byte(ev)); err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
	}
	got := string(s.End(out))
	for _, w := range []string{
		`"delta":{"content":"ok"}`,
		`"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":""}}]}`,
		`"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}`,
		`"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`,
		`"finish_reason":"tool_calls"`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("stream lacks %s:\n%s", w, got)
		}
	}
	// A delta for a block that is no tool call is an answer that cannot be translated.
	if _, err := s.Event(nil, []byte(`{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"x"}}`)); err != ErrUpstreamAnswer {
		t.Errorf("unknown block: %v", err)
	}
	buf := make([]byte, 0, 512)
	ev := []byte(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`)
	if n := testing.AllocsPerRun(100, func() { buf, _ = s.Event(buf[:0], ev) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
