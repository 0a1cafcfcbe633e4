// Package server is routerd's HTTP server (fiber v2 over fasthttp): the
// OpenAI-compatible chat completions endpoint (stream and non-stream), and
// the embeddings and legacy completions endpoints on the same loop, that
// routes every request through runtime/route and proxies it with
// runtime/upstream, failing over between (channel, model) pairs before the
// first byte reaches the client; the model list; health, root and Prometheus
// metrics; and the admin endpoints (snapshot info, reload, route explain).
//
// A Server owns the snapshot manager (runtime/snapshot). Every snapshot
// published gets a per-snapshot state built once in OnPublish: resolved
// client and admin tokens, one upstream.Endpoint per channel with its
// resolved API key, the router, and the lazily built /v1/models answer.
// Each request acquires the snapshot at its start and releases it only when
// its response is completely written: at the end of the handler for answers
// that are copied into fasthttp's buffers, and at the end of the body stream
// writer for streams.
//
// A chat request runs through the proxy loop of proxy.go: acquire →
// validate → route → try each candidate pair (rewrite, call, classify,
// report) → answer, with a pooled per-request work carrying the state
// between the steps; chat.go is the chat completions surface of that loop
// (body checks, model rewrite, metadata, stream hand-off); messages.go is
// the Anthropic Messages surface (translation to and from chat completions
// by runtime/body, Anthropic-shaped errors, metadata in headers) and
// count_tokens; gemini.go is the Gemini generateContent surface (model and
// method from the URL, Google-shaped errors, metadata in headers);
// embeddings.go and completions.go are the OpenAI embeddings
// and legacy completions surfaces. native.go holds the variants of the chat
// and Messages surfaces an attempt uses when its channel speaks Anthropic's
// Messages API natively (chosen per attempt, so failover crosses both kinds
// of channel); a stream whose client format differs from the upstream's is
// relayed through a translator (stream.go).
// and legacy completions surfaces. usage.go makes each request's usage
// record (runtime/usage) as the loop ends, counts the channel and model
// metrics, and serves GET /v1/admin/usage and /v1/admin/requests.
//
// The server protects itself from its clients (limits.go, conns.go): a cap
// on open connections that closes the oldest idle one to make room, an
// optional cap per client address, a back-off instead of an exit when
// accepting runs out of descriptors, a timeout on each write to a client,
// and shedding of new chat requests while memory use is above a high-water
// mark. cors.go refuses state-changing requests from origins that
// server.cors_origins does not allow.
//
// status.go serves the status page (GET /status: HTML, CSS and JS of
// status/, embedded; they hold no data and read the admin endpoints with
// the admin token) and GET /v1/admin/channels, the channels with their live
// state.
//
// README.md in this directory lists the endpoints, headers, errors and the
// lifecycle, and the known limits.
package server
