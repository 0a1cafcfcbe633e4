package body

// This file reads the requests of the other OpenAI operations a router
// forwards: embeddings (POST /v1/embeddings) and legacy text completions
// (POST /v1/completions). Their answers are read with ScanOpenAIResponse and
// ParseOpenAIUsage, and a completions stream asks for usage with
// OpenAIRequestUsage, as for chat.

// ParseOpenAIEmbeddings reads the Features of an OpenAI embeddings request
// in one pass, validating the whole body: a body that is not one valid JSON
// object gives a *SyntaxError. Model is the "model" member when it is a
// string; HasInput is an "input" of a shape the API accepts (a string, or a
// non-empty array of strings, of integers — one token array — or of integer
// arrays); InputTokens estimates it: CJK characters 1 token each, other text
// 1 per 4 characters, 1 per element of a token array. Messages counts the
// inputs. Stream is never set: embeddings are not streamed. Every other
// member (encoding_format, dimensions, user, …) is left to the upstream.
// The only allocation is the model string.
func ParseOpenAIEmbeddings(b []byte) (Features, error) {
	return parseOpenAIInput(b, "input", false)
}

// ParseOpenAICompletion reads the Features of a legacy OpenAI completions
// request like ParseOpenAIEmbeddings, with "prompt" (the same shapes as an
// embeddings input) in place of "input"; MaxTokens is "max_tokens" and
// Stream is "stream": true.
func ParseOpenAICompletion(b []byte) (Features, error) {
	return parseOpenAIInput(b, "prompt", true)
}

func parseOpenAIInput(b []byte, input string, completion bool) (Features, error) {
	o, err := topObject(b)
	if err != nil {
		return Features{}, err
	}
	var f Features
	modelAt, modelEnd, modelEsc := -1, 0, false // the last "model", when a string
	var kb keyBuf
	for o.next() {
		c := b[o.val]
		switch name := string(o.keyName(&kb)); {
		case name == "model":
			modelAt = -1
			if c == '"' {
				if modelEnd, modelEsc, err = scanString(b, o.val); err != nil {
					return Features{}, err
				}
				modelAt = o.val
				o.took(modelEnd)
			}
		case name == input:
			var end int
			if f.HasInput, f.Messages, f.InputTokens, end, err = openAIInput(b, o.val, o.depth+1); err != nil {
				return Features{}, err
			}
			o.took(end)
		case completion && name == "max_tokens":
			var v uint64
			var ok bool
			if v, ok, err = plainInt(&o, maxTokensLimit); err != nil {
				return Features{}, err
			}
			f.MaxTokens = int(v)
			if !ok {
				f.MaxTokens = 0
			}
		case completion && name == "stream":
			f.Stream = c == 't' // next checks that it is the literal true
		}
	}
	if err := o.finish(); err != nil {
		return Features{}, err
	}
	switch {
	case modelAt >= 0 && !modelEsc:
		f.Model = string(b[modelAt+1 : modelEnd-1])
	case modelAt >= 0:
		f.Model = unquote(b[modelAt:modelEnd])
	}
	return f, nil
}

// Element kinds of an input array.
const (
	inNone   = 0
	inString = '"'
	inNumber = '0'
	inArray  = '['
)

// openAIInput reads the embeddings input or completion prompt at b[i]:
// whether its shape is one the API accepts, how many inputs it holds, their
// token estimate, and its end.
func openAIInput(b []byte, i, depth int) (ok bool, n, toks, end int, err error) {
	switch b[i] {
	case '"':
		if end, _, err = scanString(b, i); err != nil {
			return false, 0, 0, 0, err
		}
		cjk, other := countText(b[i+1 : end-1])
		return true, 1, cjk + other/4, end, nil
	case '[':
	default:
		end, err = skipValue(b, i, depth)
		return false, 0, 0, end, err
	}
	a, err := open(b, i, depth, false)
	if err != nil {
		return false, 0, 0, 0, err
	}
	kind := byte(inNone)
	ok = true
	for a.next() {
		n++
		k := elementKind(b[a.val])
		if kind == inNone {
			kind = k
		} else if k != kind {
			ok = false
		}
		switch k {
		case inString:
			e, _, err := scanString(b, a.val)
			if err != nil {
				return false, 0, 0, 0, err
			}
			cjk, other := countText(b[a.val+1 : e-1])
			toks += cjk + other/4
			a.took(e)
		case inNumber:
			toks++ // next checks the number
		case inArray:
			t, err := a.inner(false)
			if err != nil {
				return false, 0, 0, 0, err
			}
			for t.next() {
				if elementKind(b[t.val]) != inNumber {
					ok = false
				}
				toks++
			}
			if t.err != nil {
				return false, 0, 0, 0, t.err
			}
			a.took(t.end)
		default:
			ok = false
		}
	}
	if a.err != nil {
		return false, 0, 0, 0, a.err
	}
	if kind == inNumber {
		n = 1 // one token array
	}
	return ok && n > 0, n, toks, a.end, nil
}

// elementKind classifies a value by its first byte.
func elementKind(c byte) byte {
	switch {
	case c == '"':
		return inString
	case c == '-' || c >= '0' && c <= '9':
		return inNumber
	case c == '[':
		return inArray
	}
	return 0xff
}
