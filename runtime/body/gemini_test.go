package body

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestGeminiToOpenAI(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		stream   bool
		want     string // the OpenAI request
	}{
		{"text", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, false,
			`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`},
		{"no role is user", `{"contents":[{"parts":[{"text":"hi"},{"text":"there"}]}]}`, false,
			`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"text","text":"there"}]}]}`},
		{"system camel", `{"systemInstruction":{"parts":[{"text":"a"},{"text":"b\n"}]},"contents":[]}`, false,
			`{"model":"m","messages":[{"role":"system","content":"a\n\nb\n"}]}`},
		{"system snake", `{"system_instruction":{"role":"system","parts":[{"text":"s"}]},"contents":[]}`, false,
			`{"model":"m","messages":[{"role":"system","content":"s"}]}`},
		{"inline image camel", `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/jpeg","data":"AAA="}}]}]}`, false,
			`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,AAA="}}]}]}`},
		{"inline image snake", `{"contents":[{"role":"user","parts":[{"inline_data":{"mime_type":"image/png","data":"QQ=="}}]}]}`, false,
			`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,QQ=="}}]}]}`},
		{"config", `{"contents":[],"generationConfig":{"temperature":0.2,"topP":1,"maxOutputTokens":50,"stopSequences":["x","y"],"candidateCount":1,"topK":3,"responseMimeType":"text/plain"}}`, false,
			`{"model":"m","messages":[],"temperature":0.2,"top_p":1,"max_tokens":50,"stop":["x","y"]}`},
		{"config snake", `{"contents":[],"generation_config":{"top_p":0.5,"max_output_tokens":7,"stop_sequences":[]}}`, false,
			`{"model":"m","messages":[],"top_p":0.5,"max_tokens":7,"stop":[]}`},
		{"stream", `{"contents":[]}`, true,
			`{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`},
		{"tools", `{"contents":[],"tools":[{"functionDeclarations":[{"name":"f","description":"d","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING","enum":["X"]}}}}]},{"function_declarations":[{"name":"g","parametersJsonSchema":{"type":"object"}}]}]}`, false,
			`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"string","enum":["X"]}}}}},{"type":"function","function":{"name":"g","parameters":{"type":"object"}}}]}`},
		{"function call and response", `{"contents":[{"role":"model","parts":[{"text":"ok"},{"functionCall":{"name":"f","args":{"a":"\"q\""}}},{"function_call":{"id":"c9","name":"g"}}]},` +
			`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"r":1}}},{"functionResponse":{"id":"c9","name":"g","response":{}}},{"text":"next"}]}]}`, false,
			`{"model":"m","messages":[{"role":"assistant","content":"ok","tool_calls":[{"id":"call_0","type":"function","function":{"name":"f","arguments":"{\"a\":\"\\\"q\\\"\"}"}},{"id":"c9","type":"function","function":{"name":"g","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"call_0","content":"{\"r\":1}"},{"role":"tool","tool_call_id":"c9","content":"{}"},{"role":"user","content":[{"type":"text","text":"next"}]}]}`},
		{"thought dropped", `{"contents":[{"role":"model","parts":[{"text":"hmm","thought":true},{"text":"answer"}]}]}`, false,
			`{"model":"m","messages":[{"role":"assistant","content":"answer"}]}`},
		{"unknown members dropped", `{"contents":[],"safetySettings":[{"category":"x"}],"cachedContent":"c","toolConfig":{}}`, false,
			`{"model":"m","messages":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, f, err := GeminiToOpenAI(nil, []byte(tc.in), "m", tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got  %s\nwant %s", out, tc.want)
			}
			if !json.Valid(out) || f.Model != "m" || f.Stream != tc.stream || !f.HasMessages {
				t.Fatalf("features %+v", f)
			}
		})
	}
}

func TestGeminiFeatures(t *testing.T) {
	_, f, err := GeminiToOpenAI(nil, []byte(`{"contents":[{"parts":[{"text":"`+strings.Repeat("abcd", 25)+`"},{"inlineData":{"mimeType":"image/png","data":"x"}}]}],`+
		`"generationConfig":{"maxOutputTokens":99},"tools":[{"functionDeclarations":[{"name":"f"}]}]}`), "m", false)
	if err != nil {
		t.Fatal(err)
	}
	if f.InputTokens != 29 || f.MaxTokens != 99 || !f.NeedVision || !f.NeedTools || f.Messages != 1 {
		t.Fatalf("features %+v", f)
	}
}

func TestGeminiToOpenAIRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, param string }{
		{"no contents", `{}`, "contents"},
		{"contents object", `{"contents":{}}`, "contents"},
		{"content not object", `{"contents":[1]}`, "contents"},
		{"role", `{"contents":[{"role":"assistant","parts":[]}]}`, "contents.role"},
		{"parts missing", `{"contents":[{"role":"user"}]}`, "contents.parts"},
		{"part not object", `{"contents":[{"parts":["x"]}]}`, "contents.parts"},
		{"file data", `{"contents":[{"parts":[{"fileData":{"fileUri":"u"}}]}]}`, "contents.parts"},
		{"empty part", `{"contents":[{"parts":[{}]}]}`, "contents.parts"},
		{"text number", `{"contents":[{"parts":[{"text":1}]}]}`, "contents.parts.text"},
		{"blob without data", `{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png"}}]}]}`, "contents.parts.inlineData"},
		{"model image", `{"contents":[{"role":"model","parts":[{"inlineData":{"mimeType":"a","data":"b"}}]}]}`, "contents.parts"},
		{"call args array", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[]}}]}]}`, "contents.parts.functionCall"},
		{"response not object", `{"contents":[{"parts":[{"functionResponse":"x"}]}]}`, "contents.parts.functionResponse"},
		{"system string", `{"systemInstruction":"be nice","contents":[]}`, "systemInstruction"},
		{"system image", `{"systemInstruction":{"parts":[{"inlineData":{}}]},"contents":[]}`, "systemInstruction.parts"},
		{"config array", `{"contents":[],"generationConfig":[]}`, "generationConfig"},
		{"temperature string", `{"contents":[],"generationConfig":{"temperature":"1"}}`, "generationConfig.temperature"},
		{"max tokens zero", `{"contents":[],"generationConfig":{"maxOutputTokens":0}}`, "generationConfig.maxOutputTokens"},
		{"max tokens float", `{"contents":[],"generationConfig":{"maxOutputTokens":1.5}}`, "generationConfig.maxOutputTokens"},
		{"stop not strings", `{"contents":[],"generationConfig":{"stopSequences":[1]}}`, "generationConfig.stopSequences"},
		{"candidates", `{"contents":[],"generationConfig":{"candidateCount":3}}`, "generationConfig.candidateCount"},
		{"tools object", `{"contents":[],"tools":{}}`, "tools"},
		{"code execution", `{"contents":[],"tools":[{"codeExecution":{}}]}`, "tools"},
		{"declaration without name", `{"contents":[],"tools":[{"functionDeclarations":[{"description":"d"}]}]}`, "tools.functionDeclarations.name"},
		{"parameters string", `{"contents":[],"tools":[{"functionDeclarations":[{"name":"f","parameters":"x"}]}]}`, "tools.functionDeclarations.parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := GeminiToOpenAI(nil, []byte(tc.in), "m", false)
			var re *RequestError
			if !errors.As(err, &re) || re.Param != tc.param || re.Msg == "" {
				t.Fatalf("error %v, want a RequestError on %s", err, tc.param)
			}
		})
	}
	for _, in := range []string{``, `[]`, `{"contents":[]`, `{"contents":[]} x`, `{"contents":[{"parts":[{"text":"\x"}]}]}`} {
		_, _, err := GeminiToOpenAI(nil, []byte(in), "m", false)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a SyntaxError", in, err)
		}
	}
}

func TestOpenAIToGemini(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"text", `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5},"modelVersion":"m","responseId":"c1"}`},
		{"length", `{"choices":[{"message":{"content":"a"},"finish_reason":"length"}]}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":0,"totalTokenCount":0},"modelVersion":"m"}`},
		{"filter", `{"choices":[{"message":{"content":null},"finish_reason":"content_filter"}]}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"SAFETY","index":0}],"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":0,"totalTokenCount":0},"modelVersion":"m"}`},
		{"tool call", `{"choices":[{"message":{"content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"function":{"name":"g","arguments":""}}]},"finish_reason":"tool_calls"}]}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"t1","name":"f","args":{"a":1}}},{"functionCall":{"name":"g","args":{}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":0,"totalTokenCount":0},"modelVersion":"m"}`},
		{"unknown finish", `{"choices":[{"message":{"content":"a"},"finish_reason":"weird"}]}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"a"}]},"finishReason":"OTHER","index":0}],"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":0,"totalTokenCount":0},"modelVersion":"m"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := OpenAIToGemini(nil, []byte(tc.in), "m")
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got  %s\nwant %s", out, tc.want)
			}
		})
	}
	for _, in := range []string{`[]`, `{"choices":[1]}`, `{"choices":[{"message":{"tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}}]}`} {
		if _, _, err := OpenAIToGemini(nil, []byte(in), "m"); !errors.Is(err, ErrUpstreamAnswer) {
			t.Errorf("%s: error %v", in, err)
		}
	}
}

func TestGeminiStream(t *testing.T) {
	s := GeminiStream{Model: "m"}
	var out []byte
	var err error
	for _, ch := range []string{
		`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":"He"},"finish_reason":null}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":null}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","function":{"name":"f","arguments":"{\"a\""}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"t2","function":{"name":"g","arguments":""}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`{"id":"c1","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":6,"total_tokens":10}}`,
	} {
		if out, err = s.Chunk(out, []byte(ch)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err = s.End(out); err != nil {
		t.Fatal(err)
	}
	want := `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"He"}]},"index":0}],"modelVersion":"m","responseId":"c1"}` + "\n\n" +
		`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"llo"}]},"index":0}],"modelVersion":"m","responseId":"c1"}` + "\n\n" +
		`data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"t1","name":"f","args":{"a":1}}},{"functionCall":{"id":"t2","name":"g","args":{}}}]},"finishReason":"STOP","index":0}],` +
		`"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"totalTokenCount":10},"modelVersion":"m","responseId":"c1"}` + "\n\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if u := s.Usage(); u.TotalTokens != 10 {
		t.Fatalf("usage %+v", u)
	}

	var e GeminiStream
	if _, err := e.Chunk(nil, []byte(`{"error":{"message":"x"}}`)); !errors.Is(err, ErrUpstreamAnswer) {
		t.Fatalf("error chunk: %v", err)
	}
	var bad GeminiStream
	if _, err := bad.Chunk(nil, []byte(`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"[1]"}}]}}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.End(nil); !errors.Is(err, ErrUpstreamAnswer) {
		t.Fatalf("arguments not an object: %v", err)
	}
	var empty GeminiStream
	if out, _ := empty.End(nil); !bytes.Contains(out, []byte(`"finishReason":"STOP"`)) {
		t.Fatalf("empty stream end %s", out)
	}
}

func TestGeminiStatus(t *testing.T) {
	for code, want := range map[int]string{400: "INVALID_ARGUMENT", 413: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
		404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"} {
		if got := GeminiStatus(code); got != want {
			t.Errorf("%d: %s, want %s", code, got, want)
		}
	}
	if got := string(AppendGeminiError(nil, 404, `no "x"`)); got != `{"error":{"code":404,"message":"no \"x\"","status":"NOT_FOUND"}}` {
		t.Fatal(got)
	}
}

var geminiRequest = []byte(`{"systemInstruction":{"parts":[{"text":"You are a helpful assistant."}]},` +
	`"contents":[{"role":"user","parts":[{"text":"` + strings.Repeat("Tell me about the weather. ", 30) + `"}]},` +
	`{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},` +
	`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"forecast":"sunny"}}}]}],` +
	`"generationConfig":{"temperature":0.3,"maxOutputTokens":500},` +
	`"tools":[{"functionDeclarations":[{"name":"get_weather","description":"weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}}}}]}]}`)

var geminiAnswerIn = []byte(`{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"It is sunny in Paris today."},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":120,"completion_tokens":8,"total_tokens":128}}`)

// TestGeminiRoundTripAllocs guards the translation of a request and its
// answer: no allocation (the model string is the caller's).
func TestGeminiRoundTripAllocs(t *testing.T) {
	req, ans := make([]byte, 0, 8<<10), make([]byte, 0, 8<<10)
	n := testing.AllocsPerRun(100, func() {
		_, _, _ = GeminiToOpenAI(req[:0], geminiRequest, "gpt-4o-mini", false)
		_, _, _ = OpenAIToGemini(ans[:0], geminiAnswerIn, "gpt-4o-mini")
	})
	if n > 0 {
		t.Fatalf("%v allocations per round trip, want 0", n)
	}
}

func TestGeminiStreamAllocs(t *testing.T) {
	chunk := []byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hello there"},"finish_reason":null}]}`)
	buf := make([]byte, 0, 4096)
	s := GeminiStream{Model: "m"}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Chunk(buf[:0], chunk) }); n != 0 {
		t.Fatalf("%v allocations per chunk", n)
	}
}

func BenchmarkGeminiRoundTrip(b *testing.B) {
	req, ans := make([]byte, 0, 8<<10), make([]byte, 0, 8<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(geminiRequest)))
	for b.Loop() {
		_, _, _ = GeminiToOpenAI(req[:0], geminiRequest, "gpt-4o-mini", false)
		_, _, _ = OpenAIToGemini(ans[:0], geminiAnswerIn, "gpt-4o-mini")
	}
}

func FuzzGeminiToOpenAI(f *testing.F) {
	f.Add(geminiRequest)
	f.Add([]byte(`{"contents":[{"parts":[{"inline_data":{"mime_type":"image/png","data":"QQ=="}}]}],"generation_config":{"stop_sequences":["x"],"candidate_count":1}}`))
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"text":"a","thought":true},{"function_call":{"id":"1","name":"f","args":{}}}]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, feat, err := GeminiToOpenAI(nil, in, "m", true)
		if err != nil {
			return
		}
		if !json.Valid(out) || !json.Valid(in) {
			t.Fatalf("translated %q into invalid JSON %q", in, out)
		}
		if feat.InputTokens < 0 || feat.MaxTokens < 0 || !bytes.HasPrefix(out, []byte(`{"model":"m"`)) {
			t.Fatalf("features %+v of %q", feat, in)
		}
	})
}

func FuzzOpenAIToGemini(f *testing.F) {
	f.Add(geminiAnswerIn)
	f.Add([]byte(`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"t","function":{"name":"f","arguments":"{\"a\":[1]}"}}]},"finish_reason":"tool_calls"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := OpenAIToGemini(nil, in, "m")
		if err == nil && !json.Valid(out) {
			t.Fatalf("translated %q into invalid JSON %q", in, out)
		}
	})
}

func FuzzGeminiStream(f *testing.F) {
	f.Add([]byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}`))
	f.Add([]byte(`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{}"}}]}}],"usage":{"prompt_tokens":1}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := GeminiStream{Model: "m"}
		out, err := s.Chunk(nil, in)
		if err != nil {
			return
		}
		out, err = s.End(out)
		if err != nil {
			return
		}
		for ev := range bytes.SplitSeq(bytes.TrimSuffix(out, []byte("\n\n")), []byte("\n\n")) {
			if !bytes.HasPrefix(ev, []byte("data: ")) || !json.Valid(ev[len("data: "):]) {
				t.Fatalf("chunk %q gave event %q", in, ev)
			}
		}
	})
}
