package body

import (
	"strings"
	"testing"
)

// A chat body with every kind of field a client may send.
const richBody = `{"model":"client-name","messages":[{"role":"system","content":"be brief"},` +
	`{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},` +
	`{"role":"tool","tool_call_id":"call_1","name":"f","content":"42"}],` +
	`"stop":["\n\n"],"seed":7,"top_p":0.9,"frequency_penalty":0.1,"presence_penalty":-0.2,"response_format":{"type":"json_object"},` +
	`"user":"u-1","n":1,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto",` +
	`"parallel_tool_calls":false,"logprobs":false,"x_vendor":{"deep":[1,2,{"k":"é"}]},"max_tokens":100}`

func benchBodies() map[string][]byte {
	img := strings.Repeat("iVBORw0KGgoAAAANSUhEUgAA", 1<<20/24)
	return map[string][]byte{
		"small": []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one word."}],"stream":true,"max_tokens":16}`),
		"rich":  []byte(richBody),
		"1MiB": []byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"describe"},` +
			`{"type":"image_url","image_url":{"url":"data:image/png;base64,` + img + `"}}]}],"model":"gpt-4o"}`),
	}
}

// BenchmarkParseOpenAIChat is the request parse of every chat request
// (route.RequestFeatures before the body package).
func BenchmarkParseOpenAIChat(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"max_tokens":512,"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],` +
		`"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":[{"type":"text","text":"Describe this picture in detail, please. 请详细描述"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseOpenAIChat(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewriteModel(b *testing.B) {
	for _, name := range []string{"small", "rich", "1MiB"} {
		body := benchBodies()[name]
		b.Run(name, func(b *testing.B) {
			dst := make([]byte, 0, len(body)+64)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = RewriteModel(dst[:0], body, "openai/gpt-4o-mini-2024-07-18"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenAIRequestUsage(b *testing.B) {
	body := benchBodies()["small"]
	dst := make([]byte, 0, len(body)+64)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, _, err = OpenAIRequestUsage(dst[:0], body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenAIAnswer is what the server reads of a non-stream answer:
// its usage and reasoning blocks.
func BenchmarkOpenAIAnswer(b *testing.B) {
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"<think>The user wants a greeting.</think>\n\nHello! How can I help you today?"},` +
		`"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":16,"total_tokens":25}}`)
	cut := make([]Span, 0, 4)
	b.SetBytes(int64(len(answer)))
	b.ReportAllocs()
	for b.Loop() {
		if u := ParseOpenAIUsage(ScanOpenAIResponse(answer).Usage); u.TotalTokens != 25 {
			b.Fatal(u)
		}
		cut = OpenAIReasoningSpans(cut[:0], answer)
	}
}
