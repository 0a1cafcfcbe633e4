package body

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAnthropicToOpenAI(t *testing.T) {
	cases := []struct {
		name, in, want string
		f              Features
	}{
		{"minimal",
			`{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"M","messages":[{"role":"user","content":"hi"}],"max_tokens":10}`,
			Features{Model: "claude", Messages: 1, InputTokens: 4, MaxTokens: 10, HasMessages: true}},
		{"system string and sampling",
			`{"system":"be brief","temperature":0.5,"top_p":0.9,"top_k":5,"stop_sequences":["END"],"metadata":{"user_id":"u1"},
			  "model":"claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"stream":true}`,
			`{"model":"M","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":10,
			  "temperature":0.5,"top_p":0.9,"stop":["END"],"user":"u1","stream":true,"stream_options":{"include_usage":true}}`,
			Features{Model: "claude", Messages: 2, InputTokens: 6 + 4, MaxTokens: 10, HasMessages: true, Stream: true}},
		{"system blocks joined",
			`{"model":"c","max_tokens":1,"system":[{"type":"text","text":"a\"b","cache_control":{"type":"ephemeral"}},{"type":"text","text":"c"}],"messages":[]}`,
			`{"model":"M","messages":[{"role":"system","content":"a\"b\n\nc"}],"max_tokens":1}`,
			Features{Model: "c", Messages: 1, InputTokens: 4 + 1, MaxTokens: 1, HasMessages: true}},
		{"images",
			`{"model":"c","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"what"},
			  {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},
			  {"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}`,
			`{"model":"M","messages":[{"role":"user","content":[{"type":"text","text":"what"},
			  {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],"max_tokens":1}`,
			Features{Model: "c", Messages: 1, InputTokens: 5, MaxTokens: 1, HasMessages: true, NeedVision: true}},
		{"tools round trip",
			`{"model":"c","max_tokens":1,"tools":[{"name":"get","description":"d","input_schema":{"type":"object"}}],
			  "tool_choice":{"type":"tool","name":"get","disable_parallel_tool_use":true},
			  "messages":[{"role":"user","content":"q"},
			  {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"let me"},{"type":"tool_use","id":"t1","name":"get","input":{"a":"x\"y"}}]},
			  {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r1"},{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"r2"}],"is_error":true},{"type":"text","text":"and?"}]}]}`,
			`{"model":"M","messages":[{"role":"user","content":"q"},
			  {"role":"assistant","content":"let me","tool_calls":[{"id":"t1","type":"function","function":{"name":"get","arguments":"{\"a\":\"x\\\"y\"}"}}]},
			  {"role":"tool","tool_call_id":"t1","content":"r1"},{"role":"tool","tool_call_id":"t2","content":"r2"},
			  {"role":"user","content":[{"type":"text","text":"and?"}]}],"max_tokens":1,
			  "tools":[{"type":"function","function":{"name":"get","description":"d","parameters":{"type":"object"}}}],
			  "tool_choice":{"type":"function","function":{"name":"get"}},"parallel_tool_calls":false}`,
			Features{Model: "c", Messages: 3, InputTokens: 4 + 8 + 6, MaxTokens: 1, HasMessages: true, NeedTools: true}},
		{"tool_choice any, only tool calls",
			`{"model":"c","max_tokens":1,"tool_choice":{"type":"any"},"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]}`,
			`{"model":"M","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"n","arguments":"{}"}}]}],"max_tokens":1,"tool_choice":"required"}`,
			Features{Model: "c", Messages: 1, InputTokens: 4, MaxTokens: 1, HasMessages: true}},
		{"tool_choice auto and none",
			`{"model":"c","max_tokens":1,"tool_choice":{"type":"none"},"messages":[]}`,
			`{"model":"M","messages":[],"max_tokens":1,"tool_choice":"none"}`,
			Features{Model: "c", MaxTokens: 1, HasMessages: true}},
		{"escaped model, last member wins",
			`{"model":"x","model":"cl\u0061ude","max_tokens":1,"max_tokens":2,"messages":[]}`,
			`{"model":"M","messages":[],"max_tokens":2}`,
			Features{Model: "claude", MaxTokens: 2, HasMessages: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, f, err := AnthropicToOpenAI(nil, []byte(tc.in), "M")
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, out, tc.want)
			if f != tc.f {
				t.Fatalf("features %+v, want %+v", f, tc.f)
			}
		})
	}
}

func TestAnthropicToOpenAIRefuses(t *testing.T) {
	cases := []struct{ name, in, param string }{
		{"not json", `{"model"`, ""},
		{"trailing", `{"model":"c","max_tokens":1,"messages":[]} x`, ""},
		{"no model", `{"max_tokens":1,"messages":[]}`, "model"},
		{"empty model", `{"model":"","max_tokens":1,"messages":[]}`, "model"},
		{"no max_tokens", `{"model":"c","messages":[]}`, "max_tokens"},
		{"zero max_tokens", `{"model":"c","max_tokens":0,"messages":[]}`, "max_tokens"},
		{"fraction max_tokens", `{"model":"c","max_tokens":1.5,"messages":[]}`, "max_tokens"},
		{"no messages", `{"model":"c","max_tokens":1}`, "messages"},
		{"message not object", `{"model":"c","max_tokens":1,"messages":["hi"]}`, "messages"},
		{"role", `{"model":"c","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}`, "messages.role"},
		{"content missing", `{"model":"c","max_tokens":1,"messages":[{"role":"user"}]}`, "messages.content"},
		{"block type", `{"model":"c","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document"}]}]}`, "messages.content.type"},
		{"assistant image", `{"model":"c","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"image"}]}]}`, "messages.content.type"},
		{"tool_use no input", `{"model":"c","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n"}]}]}`, "tool_use"},
		{"tool_result no id", `{"model":"c","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "tool_result.tool_use_id"},
		{"tool_result image", `{"model":"c","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image"}]}]}]}`, "tool_result.content"},
		{"text not string", `{"model":"c","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":1}]}]}`, "messages.content.text"},
		{"system block", `{"model":"c","max_tokens":1,"system":[{"type":"image"}],"messages":[]}`, "system"},
		{"tool no schema", `{"model":"c","max_tokens":1,"tools":[{"name":"n"}],"messages":[]}`, "tools"},
		{"tool_choice string", `{"model":"c","max_tokens":1,"tool_choice":"auto","messages":[]}`, "tool_choice"},
		{"tool_choice tool no name", `{"model":"c","max_tokens":1,"tool_choice":{"type":"tool"},"messages":[]}`, "tool_choice"},
		{"stop not array", `{"model":"c","max_tokens":1,"stop_sequences":"x","messages":[]}`, "stop_sequences"},
		{"stop numbers", `{"model":"c","max_tokens":1,"stop_sequences":[1],"messages":[]}`, "stop_sequences"},
		{"metadata", `{"model":"c","max_tokens":1,"metadata":[],"messages":[]}`, "metadata"},
		{"user_id", `{"model":"c","max_tokens":1,"metadata":{"user_id":1},"messages":[]}`, "metadata.user_id"},
		{"top_p", `{"model":"c","max_tokens":1,"top_p":true,"messages":[]}`, "top_p"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := AnthropicToOpenAI(nil, []byte(tc.in), "M")
			var re *RequestError
			var se *SyntaxError
			switch {
			case tc.param == "" && !errors.As(err, &se):
				t.Fatalf("err %v, want a syntax error", err)
			case tc.param != "" && (!errors.As(err, &re) || re.Param != tc.param || re.Msg == ""):
				t.Fatalf("err %#v, want a request error on %s", err, tc.param)
			}
		})
	}
}

func TestAnthropicCountTokens(t *testing.T) {
	f, _, err := AnthropicCountTokens(nil, []byte(`{"model":"c","system":"abcd","messages":[{"role":"user","content":"abcdabcd"}]}`))
	if err != nil || f.InputTokens != 5+6 || f.MaxTokens != 0 {
		t.Fatalf("%+v %v", f, err)
	}
	if _, _, err := AnthropicCountTokens(nil, []byte(`{"model":"c","max_tokens":"x","messages":[]}`)); err == nil {
		t.Fatal("a max_tokens of the wrong type was accepted")
	}
}

func TestOpenAIToAnthropic(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"text",
			`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\"","reasoning_content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`,
			`{"id":"chatcmpl-1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hi \"there\""}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":2}}`},
		{"length",
			`{"id":"c","choices":[{"message":{"content":"a"},"finish_reason":"length"}]}`,
			`{"id":"c","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"a"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}`},
		{"tool calls",
			`{"id":"c","choices":[{"message":{"content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"q\":\"\\u00e9\\\"\"}"}},{"id":"call_2","function":{"name":"g","arguments":""}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`,
			`{"id":"c","type":"message","role":"assistant","model":"claude","content":[{"type":"tool_use","id":"call_1","name":"f","input":{"q":"é\""}},{"type":"tool_use","id":"call_2","name":"g","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`},
		{"filtered, no choices",
			`{"choices":[]}`,
			`{"id":"msg_router","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := OpenAIToAnthropic(nil, []byte(tc.in), "claude")
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, out, tc.want)
		})
	}
	for _, bad := range []string{`nope`, `{"choices":[1]}`,
		`{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"not json"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"[1]"}}]}}]}`} {
		if _, _, err := OpenAIToAnthropic(nil, []byte(bad), "m"); err == nil {
			t.Errorf("%s was translated", bad)
		}
	}
}

// streamEvents runs the translator over chunks and returns "name data"
// lines.
func streamEvents(t *testing.T, chunks ...string) []string {
	t.Helper()
	s := AnthropicStream{Model: "claude", InputTokens: 9}
	var out []byte
	for _, c := range chunks {
		var err error
		if out, err = s.Chunk(out, []byte(c)); err != nil {
			t.Fatalf("chunk %s: %v", c, err)
		}
	}
	out = s.End(out)
	var evs []string
	for _, ev := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
		name, data, ok := strings.Cut(ev, "\ndata: ")
		if !ok || !strings.HasPrefix(name, "event: ") || !json.Valid([]byte(data)) {
			t.Fatalf("malformed event %q", ev)
		}
		evs = append(evs, strings.TrimPrefix(name, "event: ")+" "+data)
	}
	return evs
}

func TestAnthropicStream(t *testing.T) {
	got := streamEvents(t,
		`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"f","arguments":""}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"g","arguments":"{}"}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`{"id":"c1","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}`,
	)
	want := []string{
		`message_start {"type":"message_start","message":{"id":"c1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":0}}}`,
		`ping {"type":"ping"}`,
		`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`,
		`content_block_stop {"type":"content_block_stop","index":0}`,
		`content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_a","name":"f","input":{}}}`,
		`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x\":"}}`,
		`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}`,
		`content_block_stop {"type":"content_block_stop","index":1}`,
		`content_block_start {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_b","name":"g","input":{}}}`,
		`content_block_delta {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
		`content_block_stop {"type":"content_block_stop","index":2}`,
		`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":11,"output_tokens":3}}`,
		`message_stop {"type":"message_stop"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// An empty stream still opens and closes the message.
	if evs := streamEvents(t); len(evs) != 4 || !strings.HasPrefix(evs[2], "message_delta") {
		t.Fatalf("empty stream: %v", evs)
	}
	var s AnthropicStream
	for _, bad := range []string{`garbage`, `{"error":{"message":"x"}}`, `{"choices":[{"delta":{"tool_calls":[1]}}]}`} {
		if _, err := s.Chunk(nil, []byte(bad)); err == nil {
			t.Errorf("chunk %s was translated", bad)
		}
	}
}

func TestAppendAnthropicError(t *testing.T) {
	jsonEqual(t, AppendAnthropicError(nil, "not_found_error", `no "x"`),
		`{"type":"error","error":{"type":"not_found_error","message":"no \"x\""}}`)
	if got := string(AppendAnthropicStreamError(nil, "api_error", "m")); got != "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"m\"}}\n\n" {
		t.Fatalf("%q", got)
	}
}

// anthropicRequest2K is a Messages request of about 2 KB: a system prompt,
// a tool, a tool round trip and a question.
var anthropicRequest2K = []byte(`{"model":"claude-sonnet-4","max_tokens":1024,"temperature":0.7,"stream":false,
"system":[{"type":"text","text":"` + strings.Repeat("You are a helpful assistant that answers briefly. ", 12) + `","cache_control":{"type":"ephemeral"}}],
"tools":[{"name":"get_weather","description":"Get the current weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}],
"messages":[{"role":"user","content":"` + strings.Repeat("What is the weather like in Paris today? ", 10) + `"},
{"role":"assistant","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris","unit":"c"}}]},
{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"sunny, 21 degrees"},{"type":"text","text":"` + strings.Repeat("And tomorrow? ", 20) + `"}]}]}`)

var openAIAnswer = []byte(`{"id":"chatcmpl-abc","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"` +
	strings.Repeat("Tomorrow will be sunny too. ", 12) + `","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"day\":\"tomorrow\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":500,"completion_tokens":90,"total_tokens":590}}`)

func translateRoundTrip(req, ans []byte) (int, int) {
	out, _, err := AnthropicToOpenAI(req[:0], anthropicRequest2K, "gpt-4o-mini")
	if err != nil {
		panic(err)
	}
	back, _, err := OpenAIToAnthropic(ans[:0], openAIAnswer, "claude-sonnet-4")
	if err != nil {
		panic(err)
	}
	return len(out), len(back)
}

func BenchmarkAnthropicRoundTrip(b *testing.B) {
	req, ans := make([]byte, 0, 8<<10), make([]byte, 0, 8<<10)
	b.SetBytes(int64(len(anthropicRequest2K)))
	b.ReportAllocs()
	for b.Loop() {
		translateRoundTrip(req, ans)
	}
}

// TestAnthropicRoundTripAllocs guards the allocations of translating a 2 KB
// request and its answer: the model string only.
func TestAnthropicRoundTripAllocs(t *testing.T) {
	if n := len(anthropicRequest2K); n < 1800 || n > 2600 {
		t.Fatalf("the request is %d bytes, not about 2 KB", n)
	}
	req, ans := make([]byte, 0, 8<<10), make([]byte, 0, 8<<10)
	if n := testing.AllocsPerRun(100, func() { translateRoundTrip(req, ans) }); n > 1 {
		t.Fatalf("%v allocations per round trip, want at most 1", n)
	}
}

// TestAnthropicStreamAllocs guards the stream translation: no allocation per
// event once the buffer is large enough.
func TestAnthropicStreamAllocs(t *testing.T) {
	chunk := []byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hello there"},"finish_reason":null}]}`)
	buf := make([]byte, 0, 4096)
	var s AnthropicStream
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Chunk(buf[:0], chunk) }); n != 0 {
		t.Fatalf("%v allocations per chunk", n)
	}
}

func FuzzAnthropicToOpenAI(f *testing.F) {
	f.Add(anthropicRequest2K)
	f.Add([]byte(`{"model":"c","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}`))
	f.Add([]byte(`{"model":"c","max_tokens":1,"tool_choice":{"type":"any"},"stop_sequences":["x"],"metadata":{"user_id":"u"},"messages":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, feat, err := AnthropicToOpenAI(nil, in, "m")
		if err != nil {
			return
		}
		if !json.Valid(out) || !json.Valid(in) {
			t.Fatalf("translated %q into invalid JSON %q", in, out)
		}
		if feat.InputTokens < 0 || feat.MaxTokens <= 0 || !bytes.HasPrefix(out, []byte(`{"model":"m"`)) {
			t.Fatalf("features %+v of %q", feat, in)
		}
	})
}

func FuzzOpenAIToAnthropic(f *testing.F) {
	f.Add(openAIAnswer)
	f.Add([]byte(`{"choices":[{"message":{"content":"x"},"finish_reason":"length"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := OpenAIToAnthropic(nil, in, "m")
		if err == nil && !json.Valid(out) {
			t.Fatalf("translated %q into invalid JSON %q", in, out)
		}
	})
}

func FuzzAnthropicStream(f *testing.F) {
	f.Add([]byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}`), []byte(`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{"}}]},"finish_reason":"tool_calls"}]}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var s AnthropicStream
		var out []byte
		for _, c := range [][]byte{a, b} {
			var err error
			if out, err = s.Chunk(out, c); err != nil {
				return
			}
		}
		out = s.End(out)
		for _, ev := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
			_, data, ok := strings.Cut(ev, "\ndata: ")
			if !ok || !json.Valid([]byte(data)) {
				t.Fatalf("chunks %q %q gave the event %q", a, b, ev)
			}
		}
	})
}

func BenchmarkAnthropicStreamChunk(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Tomorrow will be"},"logprobs":null,"finish_reason":null}]}`)
	buf := make([]byte, 0, 4096)
	s := AnthropicStream{Model: "claude"}
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.Chunk(buf[:0], chunk)
	}
}
