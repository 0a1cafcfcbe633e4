// Package body owns the JSON bodies of the wire formats the router speaks:
// the one scanner that reads them (scan.go) and, on it, what the router needs
// from each format. Nothing here decodes a body into maps or structs; every
// function walks the raw bytes once, and the edits copy every byte they do not
// change, so what reaches the upstream is what the client sent.
//
// Format-neutral: the request facts routing needs (Features), token usage
// (Usage), the top-level "model" rewrite, member lookup (Field) and the point
// where the router's metadata is spliced into an answer (SpliceEnd).
//
// OpenAI chat completions (openai.go): the parse of a request
// (ParseOpenAIChat), asking a stream for its usage chunk
// (OpenAIRequestUsage), the members of an answer or stream chunk
// (ScanOpenAIResponse), the one usage parser for both (ParseOpenAIUsage),
// reasoning blocks (OpenAIReasoningSpans) and error answers (IsOpenAIError).
// Other formats go in files of their own beside it, on the same scanner.
//
// Anthropic Messages (anthropic.go): a Messages request translated into a
// chat request with its Features (AnthropicToOpenAI, AnthropicCountTokens),
// a chat completion into a Messages answer (OpenAIToAnthropic), a chat
// stream into Messages events one chunk at a time (AnthropicStream), and the
// Messages error body (AppendAnthropicError). A request field that cannot be
// read as the format defines it is a *RequestError, never a guess.
//
// Native Anthropic channels (anthropic_native.go): a chat request
// translated into a Messages request (OpenAIToAnthropicRequest), a Messages
// answer into a chat completion (AnthropicToOpenAIResponse), Messages stream
// events into chat chunks (OpenAIStream), and the usage of a Messages answer
// or of a stream relayed as it is (AnthropicUsage, AnthropicRelay).
//
// Gemini generateContent (gemini.go): a request translated into a chat
// request (GeminiToOpenAI; the model and the stream flag come from the URL),
// a chat completion into a GenerateContentResponse (OpenAIToGemini), a chat
// stream into Gemini's SSE events (GeminiStream), and Google's error status
// names (GeminiStatus, AppendGeminiError).
//
// The package sits below routing, the upstream client and the server and
// imports none of them. JSON strings are written by runtime/jsonstr.
package body
