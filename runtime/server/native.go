package server

import (
	"time"

	"smartrouter/runtime/body"
	"smartrouter/runtime/upstream"
)

// Native Anthropic channels (chanRT.native, upstream.IsAnthropic): the
// variants of the chat and Messages surfaces an attempt uses when its pair's
// channel speaks Anthropic's Messages API (upstream.OpMessages). A Messages
// request goes through with only "model" rewritten (anthropic-version and
// anthropic-beta are forwarded by the upstream client); a chat request is
// translated to Messages and its answer, stream or not, back to chat
// (runtime/body/anthropic_native.go). Usage and cost come from the
// Anthropic answer or stream. Embeddings, legacy completions and Gemini have
// no native variant: native pairs are skipped for them as unusable.

// chatNativeSurface is POST /v1/chat/completions to a native channel.
var chatNativeSurface = surface{
	op:       upstream.OpMessages,
	rewrite:  (*work).rewriteChatNative,
	complete: (*work).completeChatNative,
	commit:   (*work).commitChatNative,
}

// messagesNativeSurface is POST /v1/messages to a native channel.
var messagesNativeSurface = surface{
	op:       upstream.OpMessages,
	rewrite:  (*work).rewriteOnlyModel,
	complete: (*work).completeMessagesNative,
	commit:   (*work).commitMessagesNative,
}

// rewriteChatNative translates the chat request into a Messages request for
// the pair's model. w.added records, for a stream, that the client did not
// ask for the usage chunk (stream_options.include_usage), which the
// translated stream then leaves out.
func (w *work) rewriteChatNative(model string) ([]byte, error) {
	var err error
	w.body, err = body.OpenAIToAnthropicRequest(w.body[:0], w.in, model)
	w.added = true
	if o, ok, _ := body.Field(w.in, "stream_options"); ok {
		if v, ok, _ := body.Field(o, "include_usage"); ok && string(v) == "true" {
			w.added = false
		}
	}
	return w.body, err
}

// completeChatNative answers a successful non-stream attempt i: the
// Messages answer translated into a chat completion, then answered as
// every chat completion is (metadata spliced in).
func (w *work) completeChatNative(i int) {
	var err error
	w.body2, _, err = body.AnthropicToOpenAIResponse(w.body2[:0], w.out, time.Now().Unix())
	if err != nil {
		w.completeTranslated(i, nil, body.Usage{}, err, "chat completion")
		return
	}
	w.out, w.body2 = w.body2, w.out
	w.completeJSON(i, w.st.strip)
}

// commitChatNative starts relaying a Messages stream translated into chat
// chunks.
func (w *work) commitChatNative(i int, ttfb time.Duration) {
	w.commitRelay(i, ttfb, &chatFromMessages{s: body.OpenAIStream{Created: time.Now().Unix(), IncludeUsage: !w.added}})
}

// completeMessagesNative answers a successful non-stream attempt i with
// the Messages answer as it came.
func (w *work) completeMessagesNative(i int) {
	w.completeTranslated(i, w.out, body.AnthropicUsage(w.out), nil, "Messages")
}

// commitMessagesNative starts relaying a Messages stream as it is.
func (w *work) commitMessagesNative(i int, ttfb time.Duration) {
	w.commitRelay(i, ttfb, &messagesRelay{})
}

// chatFromMessages translates Messages events into chat chunks.
type chatFromMessages struct{ s body.OpenAIStream }

func (t *chatFromMessages) chunk(dst, data []byte) ([]byte, error) { return t.s.Event(dst, data) }
func (t *chatFromMessages) end(dst []byte) ([]byte, error)         { return t.s.End(dst), nil }
func (t *chatFromMessages) usage() body.Usage                      { return t.s.Usage() }
func (t *chatFromMessages) fail(dst []byte, msg string) []byte     { return appendStreamCut(dst, msg) }

// messagesRelay relays Messages events as they are, reading their usage.
type messagesRelay struct{ r body.AnthropicRelay }

func (t *messagesRelay) chunk(dst, data []byte) ([]byte, error) { return t.r.Event(dst, data), nil }
func (t *messagesRelay) end(dst []byte) ([]byte, error)         { return dst, nil }
func (t *messagesRelay) usage() body.Usage                      { return t.r.Usage() }
func (t *messagesRelay) fail(dst []byte, msg string) []byte {
	return body.AppendAnthropicStreamError(dst, "api_error", msg)
}
