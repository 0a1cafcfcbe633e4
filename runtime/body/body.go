package body

import (
	"errors"

	"smartrouter/runtime/jsonstr"
)

// Features are the facts of a request body that routing needs, whatever the
// wire format. Each format's parse fills them in one pass over the raw bytes.
type Features struct {
	Model       string // the model the client named
	Messages    int    // messages of the conversation
	InputTokens int    // estimate: CJK characters 1 token each, other text 1 per 4 characters, +4 per message
	MaxTokens   int    // the output token limit asked for; 0 when absent or not a plain integer
	NeedVision  bool   // a message holds an image
	NeedTools   bool   // the request offers tools
	Stream      bool   // the answer is to be streamed
	HasMessages bool   // a messages array is present
	HasInput    bool   // embeddings "input" or completions "prompt" of a shape the API accepts
}

// Usage is the token count of an answer.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
}

// Span is a byte range [Start, End) of a body.
type Span struct{ Start, End int }

// ErrNoModel is returned by RewriteModel for a body without a top-level
// "model" member.
var ErrNoModel = errors.New(`request body has no top-level "model"; add the model to the request`)

// RewriteModel appends to dst the JSON object body with the value of every
// top-level "model" member replaced by model (a JSON string), and returns the
// extended slice: the model rewrite of the formats that name the model in the
// body (OpenAI chat completions, Anthropic Messages). Every other byte is
// copied unchanged: no field is dropped, reordered or reformatted. The body
// is fully validated on the way; an invalid body gives a *SyntaxError and a
// body without "model" gives ErrNoModel, with dst returned unextended.
func RewriteModel(dst, body []byte, model string) ([]byte, error) {
	orig := len(dst)
	o, err := topObject(body)
	if err != nil {
		return dst, err
	}
	last, found := 0, false
	for o.next() {
		if o.key("model") {
			found = true
			dst = append(dst, body[last:o.val]...)
			dst = jsonstr.Append(dst, model)
			if last, err = o.skip(); err != nil {
				break
			}
		}
	}
	if err := o.finish(); err != nil {
		return dst[:orig], err
	}
	if !found {
		return dst[:orig], ErrNoModel
	}
	return append(dst, body[last:]...), nil
}

// SpliceEnd returns the offset of the closing '}' of the object b, where the
// router's metadata member goes, and whether the object has members (a ','
// is needed before a new one). It reads only the end of b: -1 when b does
// not end with '}'.
func SpliceEnd(b []byte) (at int, nonEmpty bool) {
	i := len(b) - 1
	for i >= 0 && isWS(b[i]) {
		i--
	}
	if i < 1 || b[i] != '}' {
		return -1, false
	}
	j := i - 1
	for j >= 0 && isWS(b[j]) {
		j--
	}
	return i, j >= 0 && b[j] != '{'
}
