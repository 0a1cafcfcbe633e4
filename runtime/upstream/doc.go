// Package upstream calls provider channels: it builds the upstream URL and
// auth headers of a channel (Endpoint), sends the client's JSON body (as
// runtime/body rewrote it) to the URL of the call's Op (chat completions,
// embeddings, legacy completions) in attempts over pooled keep-alive connections with
// connect, read and overall timeouts (Client), reads SSE answers chunk by
// chunk for relaying (Stream), and classifies every attempt into an
// outcome.Outcome for routing's cooldowns and failover (Classify, Error). No API key ever appears in an
// error, message or log line of this package.
package upstream
