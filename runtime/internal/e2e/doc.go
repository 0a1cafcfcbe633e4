// Package e2e holds the end-to-end tests of routerd: the real binary, built
// by the tests with go build, started in front of the mock upstream
// (fixtures/mockllm) on loopback ports, driven over HTTP and with real
// signals (SIGHUP reloads, SIGTERM drains). It has no non-test code.
package e2e
