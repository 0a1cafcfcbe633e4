// Package mockllm is an OpenAI-compatible mock upstream for the demo,
// end-to-end tests and load benchmarks. It answers GET /v1/models and POST
// /v1/chat/completions (stream and non-stream) with deterministic content,
// records the requests it receives byte for byte so tests can check what a
// router forwarded, and fails on demand per model or API key (error statuses,
// hangs, cut connections, slow first bytes) through a rules list or the
// "fail-..." naming convention described in README.md.
//
// Start it in-process on a free loopback port:
//
//	srv, err := mockllm.Start(mockllm.Config{})
//	defer srv.Close()
//	base := srv.URL() // http://127.0.0.1:NNNNN
package mockllm
