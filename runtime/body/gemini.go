package body

import (
	"strconv"

	"smartrouter/runtime/jsonstr"
)

// This file translates Google's Gemini generateContent API to and from
// OpenAI chat completions: a generateContent request into a chat request
// (GeminiToOpenAI), a chat completion into a GenerateContentResponse
// (OpenAIToGemini), and a chat completion stream into Gemini's SSE events
// (GeminiStream). Field names are accepted in camelCase and in snake_case,
// as Google's API accepts both. As for Anthropic, string values are copied
// as raw JSON; fields without an OpenAI counterpart are dropped
// (docs/surfaces.md lists them) and fields that cannot be read as Gemini
// defines them are refused with a *RequestError.

// The top-level members of a generateContent request the translation reads;
// each has its camelCase and its snake_case name.
var geminiReqNames = []string{"contents", "systemInstruction", "system_instruction",
	"generationConfig", "generation_config", "tools"}

const (
	grContents = iota
	grSystem
	grSystemSnake
	grConfig
	grConfigSnake
	grTools
	grCount
)

var (
	gContentNames = []string{"role", "parts"}
	gPartNames    = []string{"text", "inlineData", "inline_data", "functionCall", "function_call",
		"functionResponse", "function_response", "thought", "thoughtSignature", "thought_signature",
		"fileData", "file_data", "executableCode", "executable_code", "codeExecutionResult", "code_execution_result"}
	gBlobNames   = []string{"mimeType", "mime_type", "data"}
	gCallNames   = []string{"name", "args", "id"}
	gConfigNames = []string{"temperature", "topP", "top_p", "maxOutputTokens", "max_output_tokens",
		"stopSequences", "stop_sequences", "candidateCount", "candidate_count"}
	gToolNames = []string{"functionDeclarations", "function_declarations"}
	gDeclNames = []string{"name", "description", "parameters", "parametersJsonSchema", "parameters_json_schema"}
)

const (
	gpText = iota
	gpInline
	gpInlineSnake
	gpCall
	gpCallSnake
	gpResp
	gpRespSnake
	gpThought
	gpSig
	gpSigSnake
	gpFile
	gpFileSnake
	gpExec
	gpExecSnake
	gpResult
	gpResultSnake
	gpCount
)

// either returns the span of a member given in camelCase (a) or snake_case
// (b): the one present, a when both are.
func either(a, b Span) Span {
	if present(a) {
		return a
	}
	return b
}

// GeminiToOpenAI appends to dst the OpenAI chat completions request that
// asks what the Gemini generateContent request b asks, for model, streamed
// when stream is set (the method streamGenerateContent; a stream also asks
// for the usage chunk), and returns the Features of b with Model set to
// model. A body that is not one JSON object gives a *SyntaxError; a missing
// or wrongly typed field, an unknown role or part, a candidateCount other
// than 1 or a tool other than function declarations give a *RequestError.
func GeminiToOpenAI(dst, b []byte, model string, stream bool) ([]byte, Features, error) {
	f := Features{Model: model, Stream: stream}
	var r [grCount]Span
	end, err := members(b, skipWS(b, 0), 0, geminiReqNames, r[:])
	if err != nil {
		return dst, f, err
	}
	if j := skipWS(b, end); j != len(b) {
		return dst, f, syntaxErr(j, "data after the top-level object")
	}
	if !isArr(b, r[grContents]) {
		return dst, f, reqErr("contents", `"contents" must be an array of {"role","parts"}`)
	}
	f.HasMessages = true
	dst = append(dst, `{"model":`...)
	dst = jsonstr.Append(dst, model)
	dst = append(dst, `,"messages":[`...)
	n := 0
	if s := either(r[grSystem], r[grSystemSnake]); present(s) && !isNull(b, s) {
		if !isObj(b, s) {
			return dst, f, reqErr("systemInstruction", `"systemInstruction" must be a Content object {"parts":[{"text":...}]}`)
		}
		var c [2]Span
		if _, err := members(b, s.Start, 1, gContentNames, c[:]); err != nil {
			return dst, f, err
		}
		if !isArr(b, c[1]) {
			return dst, f, reqErr("systemInstruction.parts", `"systemInstruction.parts" must be an array of text parts`)
		}
		dst = append(dst, `{"role":"system","content":"`...)
		cjk, other := 0, 0
		a, err := open(b, c[1].Start, 2, false)
		if err != nil {
			return dst, f, err
		}
		k := 0
		for a.next() {
			var p [gpCount]Span
			if b[a.val] != '{' {
				return dst, f, reqErr("systemInstruction.parts", "each part must be an object")
			}
			end, err := members(b, a.val, 3, gPartNames, p[:])
			if err != nil {
				return dst, f, err
			}
			a.took(end)
			if !isStr(b, p[gpText]) {
				return dst, f, reqErr("systemInstruction.parts", `the parts of "systemInstruction" must be text parts {"text":...}`)
			}
			if k > 0 {
				dst = append(dst, `\n\n`...)
			}
			k++
			t := innerOf(b, p[gpText])
			dst = append(dst, t...)
			c1, o1 := countText(t)
			cjk, other = cjk+c1, other+o1
		}
		if a.err != nil {
			return dst, f, a.err
		}
		dst = append(dst, `"}`...)
		n++
		f.Messages++
		f.InputTokens += tokens(cjk, other)
	}
	a, err := open(b, r[grContents].Start, 1, false)
	if err != nil {
		return dst, f, err
	}
	calls, results := 0, 0 // function calls and responses so far: a response without an id answers the call of its rank
	for a.next() {
		if b[a.val] != '{' {
			return dst, f, reqErr("contents", `each content must be an object {"role","parts"}`)
		}
		var c [2]Span
		end, err := members(b, a.val, 2, gContentNames, c[:])
		if err != nil {
			return dst, f, err
		}
		a.took(end)
		model := false
		switch {
		case !present(c[0]) || strEq(b, c[0], "user") || strEq(b, c[0], "function"):
		case strEq(b, c[0], "model"):
			model = true
		default:
			return dst, f, reqErr("contents.role", `"role" must be "user" or "model"`)
		}
		if !isArr(b, c[1]) {
			return dst, f, reqErr("contents.parts", `each content needs a "parts" array`)
		}
		if model {
			dst, n, calls, err = appendGeminiModel(dst, b, c[1], n, calls, &f)
		} else {
			dst, n, results, err = appendGeminiUser(dst, b, c[1], n, results, &f)
		}
		if err != nil {
			return dst, f, err
		}
	}
	if a.err != nil {
		return dst, f, a.err
	}
	dst = append(dst, ']')
	if s := either(r[grConfig], r[grConfigSnake]); present(s) && !isNull(b, s) {
		if dst, err = appendGeminiConfig(dst, b, s, &f); err != nil {
			return dst, f, err
		}
	}
	if s := r[grTools]; present(s) && !isNull(b, s) {
		if dst, err = appendGeminiTools(dst, b, s, &f); err != nil {
			return dst, f, err
		}
	}
	if stream {
		dst = append(dst, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(dst, '}'), f, nil
}

// parts walks the parts array at s, handing each part's members to fn.
func parts(b []byte, s Span, fn func(p [gpCount]Span) error) error {
	a, err := open(b, s.Start, 3, false)
	if err != nil {
		return err
	}
	for a.next() {
		if b[a.val] != '{' {
			return reqErr("contents.parts", "each part must be an object")
		}
		var p [gpCount]Span
		end, err := members(b, a.val, 4, gPartNames, p[:])
		if err != nil {
			return err
		}
		a.took(end)
		if err := fn(p); err != nil {
			return err
		}
	}
	return a.err
}

// partKind names the one kind of data a part holds.
func partKind(p *[gpCount]Span) int {
	switch {
	case present(p[gpText]):
		return gpText
	case present(p[gpInline]) || present(p[gpInlineSnake]):
		return gpInline
	case present(p[gpCall]) || present(p[gpCallSnake]):
		return gpCall
	case present(p[gpResp]) || present(p[gpRespSnake]):
		return gpResp
	}
	return -1
}

const errPartKind = `each part must hold one of "text", "inlineData", "functionCall" or "functionResponse"; "fileData", "executableCode" and "codeExecutionResult" are not supported`

// appendCallID writes the id of a function call or response: its own, else
// call_<k>.
func appendCallID(dst, b []byte, id Span, k int) []byte {
	if isStr(b, id) && id.End-id.Start > 2 {
		return append(dst, b[id.Start:id.End]...)
	}
	dst = append(dst, `"call_`...)
	dst = strconv.AppendInt(dst, int64(k), 10)
	return append(dst, '"')
}

// appendGeminiUser writes a user turn: its function responses as tool
// messages, then its text and images as one user message.
func appendGeminiUser(dst, b []byte, s Span, n, results int, f *Features) ([]byte, int, int, error) {
	cjk, other := 0, 0
	err := parts(b, s, func(p [gpCount]Span) error {
		switch partKind(&p) {
		case gpText, gpInline:
			return nil
		case gpResp:
			rs := either(p[gpResp], p[gpRespSnake])
			if !isObj(b, rs) {
				return reqErr("contents.parts.functionResponse", `"functionResponse" must be an object {"name","response"}`)
			}
			var fr [3]Span
			if _, err := members(b, rs.Start, 5, []string{"name", "response", "id"}, fr[:]); err != nil {
				return err
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			f.Messages++
			dst = append(dst, `{"role":"tool","tool_call_id":`...)
			dst = appendCallID(dst, b, fr[2], results)
			results++
			dst = append(dst, `,"content":`...)
			raw := []byte("{}")
			if present(fr[1]) {
				raw = b[fr[1].Start:fr[1].End]
			}
			dst = appendJSONString(dst, raw)
			dst = append(dst, '}')
			c1, o1 := countText(raw)
			f.InputTokens += tokens(c1, o1)
			return nil
		}
		return reqErr("contents.parts", errPartKind)
	})
	if err != nil {
		return dst, n, results, err
	}
	k := 0
	err = parts(b, s, func(p [gpCount]Span) error {
		kind := partKind(&p)
		if kind != gpText && kind != gpInline {
			return nil
		}
		if k == 0 {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			f.Messages++
			dst = append(dst, `{"role":"user","content":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
		if kind == gpText {
			if !isStr(b, p[gpText]) {
				return reqErr("contents.parts.text", `"text" must be a string`)
			}
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, b[p[gpText].Start:p[gpText].End]...)
			c1, o1 := countText(innerOf(b, p[gpText]))
			cjk, other = cjk+c1, other+o1
			dst = append(dst, '}')
			return nil
		}
		blob := either(p[gpInline], p[gpInlineSnake])
		if !isObj(b, blob) {
			return reqErr("contents.parts.inlineData", `"inlineData" must be an object {"mimeType","data"}`)
		}
		var bl [3]Span
		if _, err := members(b, blob.Start, 5, gBlobNames, bl[:]); err != nil {
			return err
		}
		mt := either(bl[0], bl[1])
		if !isStr(b, mt) || !isStr(b, bl[2]) {
			return reqErr("contents.parts.inlineData", `"inlineData" needs string "mimeType" and "data" (base64)`)
		}
		f.NeedVision = true
		dst = append(dst, `{"type":"image_url","image_url":{"url":"data:`...)
		dst = append(dst, innerOf(b, mt)...)
		dst = append(dst, `;base64,`...)
		dst = append(dst, innerOf(b, bl[2])...)
		dst = append(dst, `"}}`...)
		return nil
	})
	if err != nil {
		return dst, n, results, err
	}
	if k > 0 {
		dst = append(dst, "]}"...)
		f.InputTokens += tokens(cjk, other)
	}
	return dst, n, results, nil
}

// appendGeminiModel writes a model turn: its texts as content, its
// function calls as tool_calls.
func appendGeminiModel(dst, b []byte, s Span, n, calls int, f *Features) ([]byte, int, int, error) {
	if n > 0 {
		dst = append(dst, ',')
	}
	n++
	f.Messages++
	dst = append(dst, `{"role":"assistant","content":`...)
	cjk, other := 0, 0
	texts := 0
	err := parts(b, s, func(p [gpCount]Span) error {
		switch partKind(&p) {
		case gpText:
			if !isStr(b, p[gpText]) {
				return reqErr("contents.parts.text", `"text" must be a string`)
			}
			if present(p[gpThought]) && b[p[gpThought].Start] == 't' {
				return nil // a thought summary is not part of the answer
			}
			if texts == 0 {
				dst = append(dst, '"')
			} else {
				dst = append(dst, `\n\n`...)
			}
			texts++
			t := innerOf(b, p[gpText])
			dst = append(dst, t...)
			c1, o1 := countText(t)
			cjk, other = cjk+c1, other+o1
		case gpCall:
		default:
			return reqErr("contents.parts", `a "model" turn holds only "text" and "functionCall" parts`)
		}
		return nil
	})
	if err != nil {
		return dst, n, calls, err
	}
	if texts == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
	}
	k := 0
	err = parts(b, s, func(p [gpCount]Span) error {
		if partKind(&p) != gpCall {
			return nil
		}
		cs := either(p[gpCall], p[gpCallSnake])
		if !isObj(b, cs) {
			return reqErr("contents.parts.functionCall", `"functionCall" must be an object {"name","args"}`)
		}
		var fc [3]Span
		if _, err := members(b, cs.Start, 5, gCallNames, fc[:]); err != nil {
			return err
		}
		if !isStr(b, fc[0]) || present(fc[1]) && !isObj(b, fc[1]) {
			return reqErr("contents.parts.functionCall", `"functionCall" needs a string "name" and an object "args"`)
		}
		if k == 0 {
			dst = append(dst, `,"tool_calls":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, `{"id":`...)
		dst = appendCallID(dst, b, fc[2], calls)
		calls++
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = append(dst, b[fc[0].Start:fc[0].End]...)
		dst = append(dst, `,"arguments":`...)
		raw := []byte("{}")
		if present(fc[1]) {
			raw = b[fc[1].Start:fc[1].End]
		}
		dst = appendJSONString(dst, raw)
		dst = append(dst, "}}"...)
		c1, o1 := countText(raw)
		cjk, other = cjk+c1, other+o1
		return nil
	})
	if err != nil {
		return dst, n, calls, err
	}
	if k > 0 {
		dst = append(dst, ']')
	}
	f.InputTokens += tokens(cjk, other)
	return append(dst, '}'), n, calls, nil
}

// appendGeminiConfig writes the generationConfig members that have an
// OpenAI counterpart.
func appendGeminiConfig(dst, b []byte, s Span, f *Features) ([]byte, error) {
	if !isObj(b, s) {
		return dst, reqErr("generationConfig", `"generationConfig" must be an object`)
	}
	var g [9]Span
	if _, err := members(b, s.Start, 1, gConfigNames, g[:]); err != nil {
		return dst, err
	}
	num := func(s Span, param, name string) error {
		if !present(s) || isNull(b, s) {
			return nil
		}
		if !isNum(b, s) {
			return reqErr("generationConfig."+param, `"`+param+`" must be a number`)
		}
		dst = append(dst, `,"`...)
		dst = append(dst, name...)
		dst = append(dst, `":`...)
		dst = append(dst, b[s.Start:s.End]...)
		return nil
	}
	if err := num(g[0], "temperature", "temperature"); err != nil {
		return dst, err
	}
	if err := num(either(g[1], g[2]), "topP", "top_p"); err != nil {
		return dst, err
	}
	if mt := either(g[3], g[4]); present(mt) && !isNull(b, mt) {
		v, ok := plainUint(b[mt.Start:mt.End], 1<<31-1)
		if !isNum(b, mt) || !ok || v == 0 {
			return dst, reqErr("generationConfig.maxOutputTokens", `"maxOutputTokens" must be a positive integer`)
		}
		f.MaxTokens = int(v)
		dst = append(dst, `,"max_tokens":`...)
		dst = append(dst, b[mt.Start:mt.End]...)
	}
	if st := either(g[5], g[6]); present(st) && !isNull(b, st) {
		if !isArr(b, st) {
			return dst, reqErr("generationConfig.stopSequences", `"stopSequences" must be an array of strings`)
		}
		a, err := open(b, st.Start, 2, false)
		if err != nil {
			return dst, err
		}
		for a.next() {
			if b[a.val] != '"' {
				return dst, reqErr("generationConfig.stopSequences", `"stopSequences" must be an array of strings`)
			}
		}
		if a.err != nil {
			return dst, a.err
		}
		dst = append(dst, `,"stop":`...)
		dst = append(dst, b[st.Start:st.End]...)
	}
	if cc := either(g[7], g[8]); present(cc) && !isNull(b, cc) {
		if v, ok := plainUint(b[cc.Start:cc.End], 1<<20); !isNum(b, cc) || !ok || v != 1 {
			return dst, reqErr("generationConfig.candidateCount", `"candidateCount" must be 1: the router answers one candidate`)
		}
	}
	return dst, nil
}

// appendGeminiTools writes tools[].functionDeclarations as function tools;
// any other tool (googleSearch, codeExecution, ...) cannot run on an OpenAI
// channel and is refused.
func appendGeminiTools(dst, b []byte, s Span, f *Features) ([]byte, error) {
	if !isArr(b, s) {
		return dst, reqErr("tools", `"tools" must be an array of {"functionDeclarations":[...]}`)
	}
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return dst, err
	}
	k := 0
	for a.next() {
		if b[a.val] != '{' {
			return dst, reqErr("tools", `each tool must be an object {"functionDeclarations":[...]}`)
		}
		var t [2]Span
		end, err := members(b, a.val, 2, gToolNames, t[:])
		if err != nil {
			return dst, err
		}
		a.took(end)
		fd := either(t[0], t[1])
		if !isArr(b, fd) {
			return dst, reqErr("tools", `only function tools ({"functionDeclarations":[...]}) are supported; googleSearch, codeExecution and other built-in tools are not`)
		}
		d, err := open(b, fd.Start, 3, false)
		if err != nil {
			return dst, err
		}
		for d.next() {
			if b[d.val] != '{' {
				return dst, reqErr("tools.functionDeclarations", `each function declaration must be an object {"name","description","parameters"}`)
			}
			var fn [5]Span
			end, err := members(b, d.val, 4, gDeclNames, fn[:])
			if err != nil {
				return dst, err
			}
			d.took(end)
			if !isStr(b, fn[0]) {
				return dst, reqErr("tools.functionDeclarations.name", `each function declaration needs a string "name"`)
			}
			if k == 0 {
				dst = append(dst, `,"tools":[`...)
			} else {
				dst = append(dst, ',')
			}
			k++
			dst = append(dst, `{"type":"function","function":{"name":`...)
			dst = append(dst, b[fn[0].Start:fn[0].End]...)
			if isStr(b, fn[1]) {
				dst = append(dst, `,"description":`...)
				dst = append(dst, b[fn[1].Start:fn[1].End]...)
			}
			if js := either(fn[3], fn[4]); isObj(b, js) {
				dst = append(dst, `,"parameters":`...)
				dst = append(dst, b[js.Start:js.End]...)
			} else if isObj(b, fn[2]) {
				dst = append(dst, `,"parameters":`...)
				if dst, err = appendSchema(dst, b, fn[2].Start, 5); err != nil {
					return dst, err
				}
			} else if present(fn[2]) && !isNull(b, fn[2]) {
				return dst, reqErr("tools.functionDeclarations.parameters", `"parameters" must be an object (an OpenAPI schema)`)
			}
			dst = append(dst, "}}"...)
		}
		if d.err != nil {
			return dst, d.err
		}
	}
	if a.err != nil {
		return dst, a.err
	}
	if k > 0 {
		dst = append(dst, ']')
		f.NeedTools = true
	}
	return dst, nil
}

// appendSchema copies the value at b[i] (a Gemini Schema, OpenAPI style)
// with the value of every "type" member that is a string lowercased:
// Gemini writes "OBJECT", "STRING", JSON Schema "object", "string".
func appendSchema(dst, b []byte, i, depth int) ([]byte, error) {
	switch b[i] {
	case '{':
		o, err := open(b, i, depth, true)
		if err != nil {
			return dst, err
		}
		dst = append(dst, '{')
		k := 0
		for o.next() {
			if k > 0 {
				dst = append(dst, ',')
			}
			k++
			dst = append(dst, b[o.ks-1:o.val]...)
			if o.key("type") && b[o.val] == '"' {
				end, err := o.skip()
				if err != nil {
					return dst, err
				}
				for _, c := range b[o.val:end] {
					if c >= 'A' && c <= 'Z' {
						c += 'a' - 'A'
					}
					dst = append(dst, c)
				}
				continue
			}
			if dst, err = appendSchema(dst, b, o.val, depth+1); err != nil {
				return dst, err
			}
			end, err := skipValue(b, o.val, depth+1)
			if err != nil {
				return dst, err
			}
			o.took(end)
		}
		if o.err != nil {
			return dst, o.err
		}
		return append(dst, '}'), nil
	case '[':
		a, err := open(b, i, depth, false)
		if err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		k := 0
		for a.next() {
			if k > 0 {
				dst = append(dst, ',')
			}
			k++
			if dst, err = appendSchema(dst, b, a.val, depth+1); err != nil {
				return dst, err
			}
			end, err := skipValue(b, a.val, depth+1)
			if err != nil {
				return dst, err
			}
			a.took(end)
		}
		if a.err != nil {
			return dst, a.err
		}
		return append(dst, ']'), nil
	}
	end, err := skipValue(b, i, depth)
	if err != nil {
		return dst, err
	}
	return append(dst, b[i:end]...), nil
}

// geminiFinish maps an OpenAI finish_reason to a Gemini finishReason.
// Gemini ends a turn with function calls with STOP.
func geminiFinish(b []byte, s Span) string {
	switch {
	case strEq(b, s, "length"):
		return "MAX_TOKENS"
	case strEq(b, s, "content_filter"):
		return "SAFETY"
	case strEq(b, s, "stop"), strEq(b, s, "tool_calls"), strEq(b, s, "function_call"):
		return "STOP"
	}
	return "OTHER"
}

// appendGeminiUsage writes the usageMetadata member.
func appendGeminiUsage(dst []byte, u Usage) []byte {
	dst = append(dst, `,"usageMetadata":{"promptTokenCount":`...)
	dst = strconv.AppendInt(dst, u.PromptTokens, 10)
	dst = append(dst, `,"candidatesTokenCount":`...)
	dst = strconv.AppendInt(dst, u.CompletionTokens, 10)
	dst = append(dst, `,"totalTokenCount":`...)
	t := u.TotalTokens
	if t == 0 {
		t = u.PromptTokens + u.CompletionTokens
	}
	dst = strconv.AppendInt(dst, t, 10)
	return append(dst, '}')
}

// appendGeminiTail closes a response: the candidate's finishReason (none
// when finish is empty), usageMetadata when withUsage, modelVersion and
// responseId.
func appendGeminiTail(dst []byte, finish string, u Usage, withUsage bool, model string, id []byte) []byte {
	dst = append(dst, '}')
	if finish != "" {
		dst = append(dst, `,"finishReason":"`...)
		dst = append(dst, finish...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"index":0}]`...)
	if withUsage {
		dst = appendGeminiUsage(dst, u)
	}
	dst = append(dst, `,"modelVersion":`...)
	dst = jsonstr.Append(dst, model)
	if len(id) > 0 {
		dst = append(dst, `,"responseId":`...)
		dst = append(dst, id...)
	}
	return append(dst, '}')
}

// OpenAIToGemini appends to dst the GenerateContentResponse for the OpenAI
// chat completion out, with model as its modelVersion, and returns its
// usage. Only the first choice is translated.
func OpenAIToGemini(dst, out []byte, model string) ([]byte, Usage, error) {
	ch, err := readOpenAIChoice(out)
	u := ch.u
	if err != nil {
		return dst, u, err
	}
	dst = append(dst, `{"candidates":[{"content":{"role":"model","parts":[`...)
	dst, n, err := ch.appendParts(dst, out, `{"text":`, func(dst []byte, _ int, id, name, args Span) ([]byte, error) {
		return appendGeminiCall(dst, out, id, name, args)
	})
	if err != nil {
		return dst, u, err
	}
	if n == 0 {
		dst = append(dst, `{"text":""}`...)
	}
	dst = append(dst, ']')
	var id []byte
	if isStr(out, ch.id) {
		id = out[ch.id.Start:ch.id.End]
	}
	return appendGeminiTail(dst, geminiFinish(out, ch.finish), u, true, model, id), u, nil
}

// appendGeminiCall writes one functionCall part from an OpenAI tool call
// (id, name and arguments at their spans of b).
func appendGeminiCall(dst, b []byte, id, name, args Span) ([]byte, error) {
	dst = append(dst, `{"functionCall":{`...)
	if isStr(b, id) && id.End-id.Start > 2 {
		dst = append(dst, `"id":`...)
		dst = append(dst, b[id.Start:id.End]...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"name":`...)
	if isStr(b, name) {
		dst = append(dst, b[name.Start:name.End]...)
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, `,"args":`...)
	var err error
	if dst, err = appendArguments(dst, b, args); err != nil {
		return dst, err
	}
	return append(dst, "}}"...), nil
}

// GeminiStream translates an OpenAI chat completion stream into Gemini
// streamGenerateContent SSE events: each chunk with text becomes one
// "data: {candidates:[...]}" event at once; tool calls, which OpenAI
// streams in fragments and Gemini sends whole, are gathered and sent with
// the finishReason and usageMetadata in the last event (End). The zero value
// is ready once Model is set.
type GeminiStream struct {
	Model string // the modelVersion of the events

	stop  string
	u     Usage
	id    [64]byte
	idLen int
	calls []byte // the gathered tool calls: functionCall parts, the last one's arguments still open
	open  bool   // a call is open in calls
	argAt int    // where the open call's arguments start in calls
	tool  int64  // the OpenAI index of the open call
}

// Usage is the usage the stream reported so far.
func (s *GeminiStream) Usage() Usage { return s.u }

// Chunk appends the event for one OpenAI stream chunk (its data payload),
// if it carries text. A chunk that is not a JSON object, or carries an
// "error", gives ErrUpstreamAnswer: the caller ends the stream with an
// error event.
func (s *GeminiStream) Chunk(dst, data []byte) ([]byte, error) {
	var r [4]Span
	if _, err := members(data, skipWS(data, 0), 0, respNames, r[:]); err != nil {
		return dst, ErrUpstreamAnswer
	}
	if present(r[3]) && !isNull(data, r[3]) {
		return dst, ErrUpstreamAnswer
	}
	if isObj(data, r[2]) {
		s.u = ParseOpenAIUsage(data[r[2].Start:r[2].End])
	}
	if s.idLen == 0 && isStr(data, r[0]) && r[0].End-r[0].Start <= len(s.id) {
		s.idLen = copy(s.id[:], data[r[0].Start:r[0].End])
	}
	var c [4]Span
	if err := firstChoice(data, r[1], &c); err != nil {
		return dst, ErrUpstreamAnswer
	}
	if isStr(data, c[2]) {
		s.stop = geminiFinish(data, c[2])
	}
	if !isObj(data, c[1]) {
		return dst, nil
	}
	var d [2]Span
	if _, err := members(data, c[1].Start, 2, messageNames, d[:]); err != nil {
		return dst, ErrUpstreamAnswer
	}
	if isArr(data, d[1]) {
		if err := s.toolCalls(data, d[1]); err != nil {
			return dst, err
		}
	}
	if t := d[0]; isStr(data, t) && t.End-t.Start > 2 {
		dst = append(dst, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":`...)
		dst = append(dst, data[t.Start:t.End]...)
		dst = append(dst, "}]"...)
		dst = appendGeminiTail(dst, "", s.u, false, s.Model, s.id[:s.idLen])
		dst = append(dst, "\n\n"...)
	}
	return dst, nil
}

// toolCalls gathers the tool call fragments of one chunk.
func (s *GeminiStream) toolCalls(data []byte, at Span) error {
	a, err := open(data, at.Start, 3, false)
	if err != nil {
		return ErrUpstreamAnswer
	}
	for a.next() {
		if data[a.val] != '{' {
			return ErrUpstreamAnswer
		}
		var tc [3]Span
		end, err := members(data, a.val, 4, callNames, tc[:])
		if err != nil {
			return ErrUpstreamAnswer
		}
		a.took(end)
		var fn [2]Span
		if isObj(data, tc[1]) {
			if _, err := members(data, tc[1].Start, 5, funcNames, fn[:]); err != nil {
				return ErrUpstreamAnswer
			}
		}
		idx := int64(-1)
		if isNum(data, tc[2]) {
			v, _ := plainUint(data[tc[2].Start:tc[2].End], 1<<20)
			idx = int64(v)
		}
		if !s.open || (idx >= 0 && idx != s.tool) || isStr(data, tc[0]) && idx < 0 {
			if err := s.closeCall(); err != nil {
				return err
			}
			if len(s.calls) > 0 {
				s.calls = append(s.calls, ',')
			}
			s.calls = append(s.calls, `{"functionCall":{`...)
			if isStr(data, tc[0]) && tc[0].End-tc[0].Start > 2 {
				s.calls = append(s.calls, `"id":`...)
				s.calls = append(s.calls, data[tc[0].Start:tc[0].End]...)
				s.calls = append(s.calls, ',')
			}
			s.calls = append(s.calls, `"name":`...)
			if isStr(data, fn[0]) {
				s.calls = append(s.calls, data[fn[0].Start:fn[0].End]...)
			} else {
				s.calls = append(s.calls, `""`...)
			}
			s.calls = append(s.calls, `,"args":`...)
			s.argAt = len(s.calls)
			s.open, s.tool = true, idx
		}
		if g := fn[1]; isStr(data, g) && g.End-g.Start > 2 {
			s.calls = appendUnescaped(s.calls, innerOf(data, g))
		}
	}
	if a.err != nil {
		return ErrUpstreamAnswer
	}
	return nil
}

// closeCall ends the open gathered call: its arguments must be one JSON
// object (none is {}).
func (s *GeminiStream) closeCall() error {
	if !s.open {
		return nil
	}
	s.open = false
	v := s.calls[s.argAt:]
	i := skipWS(v, 0)
	if i == len(v) {
		s.calls = append(s.calls[:s.argAt], "{}}}"...)
		return nil
	}
	if v[i] != '{' {
		return ErrUpstreamAnswer
	}
	end, err := skipValue(v, i, 0)
	if err != nil || skipWS(v, end) != len(v) {
		return ErrUpstreamAnswer
	}
	s.calls = append(s.calls, "}}"...)
	return nil
}

// End appends the last event: the gathered function calls (or an empty
// text part), the finishReason and the usageMetadata. Tool arguments that
// are not a JSON object give ErrUpstreamAnswer.
func (s *GeminiStream) End(dst []byte) ([]byte, error) {
	if err := s.closeCall(); err != nil {
		return dst, err
	}
	dst = append(dst, `data: {"candidates":[{"content":{"role":"model","parts":[`...)
	if len(s.calls) > 0 {
		dst = append(dst, s.calls...)
	} else {
		dst = append(dst, `{"text":""}`...)
	}
	dst = append(dst, ']')
	stop := s.stop
	if stop == "" {
		stop = "STOP"
	}
	dst = appendGeminiTail(dst, stop, s.u, true, s.Model, s.id[:s.idLen])
	return append(dst, "\n\n"...), nil
}

// GeminiStatus is the status name of Google's error shape for an HTTP
// status code.
func GeminiStatus(code int) string {
	switch {
	case code == 400, code == 413, code == 415, code == 422:
		return "INVALID_ARGUMENT"
	case code == 401:
		return "UNAUTHENTICATED"
	case code == 403:
		return "PERMISSION_DENIED"
	case code == 404:
		return "NOT_FOUND"
	case code == 429:
		return "RESOURCE_EXHAUSTED"
	case code == 503, code == 529:
		return "UNAVAILABLE"
	case code == 504:
		return "DEADLINE_EXCEEDED"
	case code >= 500:
		return "INTERNAL"
	}
	return "INVALID_ARGUMENT"
}

// AppendGeminiError appends {"error":{"code":code,"message":msg,"status":...}}.
func AppendGeminiError(dst []byte, code int, msg string) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = jsonstr.Append(dst, msg)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, GeminiStatus(code)...)
	return append(dst, `"}}`...)
}
