package body

import (
	"strings"
	"testing"
)

// nativeRequest is a chat request of about 2 KB: a system prompt, a few
// turns, a tool call and its result, a tool definition.
var nativeRequest = []byte(`{"model":"gpt-4o-mini","max_tokens":512,"temperature":0.2,"messages":[` +
	`{"role":"system","content":"` + strings.Repeat("You are a careful assistant. ", 20) + `"},` +
	`{"role":"user","content":"` + strings.Repeat("What is the weather like today? ", 20) + `"},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_1","content":"sunny, 21C"},` +
	`{"role":"user","content":"` + strings.Repeat("And tomorrow? ", 20) + `"}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather at a place","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`)

var nativeAnswer = []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"` +
	strings.Repeat("Tomorrow looks sunny as well. ", 10) + `"},{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris","day":"tomorrow"}}],` +
	`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":410,"output_tokens":60}}`)

// BenchmarkNativeRoundTrip is what a chat request to a native Anthropic
// channel costs the router in translation: the request to Messages and the
// answer back.
func BenchmarkNativeRoundTrip(b *testing.B) {
	b.SetBytes(int64(len(nativeRequest)))
	b.ReportAllocs()
	var req, ans []byte
	for b.Loop() {
		var err error
		if req, err = OpenAIToAnthropicRequest(req[:0], nativeRequest, "claude"); err != nil {
			b.Fatal(err)
		}
		if ans, _, err = AnthropicToOpenAIResponse(ans[:0], nativeAnswer, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNativeStreamEvent is the translation of one Messages text
// delta into a chat chunk, and the relay of one event as it is.
func BenchmarkNativeStreamEvent(b *testing.B) {
	ev := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there"}}`)
	b.Run("chat", func(b *testing.B) {
		b.ReportAllocs()
		var s OpenAIStream
		var out []byte
		for b.Loop() {
			out, _ = s.Event(out[:0], ev)
		}
	})
	b.Run("relay", func(b *testing.B) {
		b.ReportAllocs()
		var r AnthropicRelay
		var out []byte
		for b.Loop() {
			out = r.Event(out[:0], ev)
		}
	})
}
