package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/runtime/outcome"
)

// rawServer answers every request on 127.0.0.1 with the bytes answer
// returns for the n-th request of a connection (0-based), then closes the
// connection when close is set. It counts the connections it accepted.
func rawServer(t *testing.T, answer func(n int) (raw string, close bool)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					raw, closeIt := answer(n)
					if _, err := c.Write([]byte(raw)); err != nil || closeIt {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &conns
}

const sseEvents = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n"

// streamOnce reads a stream to its end and returns the contents of its
// data payloads joined by "|".
func streamOnce(t *testing.T, c *Client, ep *Endpoint) (string, error) {
	t.Helper()
	resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m","stream":true}`), Stream: true})
	if err != nil {
		return "", err
	}
	defer resp.Close()
	s := resp.Stream()
	var got []string
	for {
		ch, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return strings.Join(got, "|"), err
		}
		got = append(got, string(ch.Data))
		if ch.Done {
			break
		}
	}
	return strings.Join(got, "|"), nil
}

func chunked(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strings.ToUpper(hexLen(len(p))) + "\r\n" + p + "\r\n")
	}
	return b.String()
}

func hexLen(n int) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var out []byte
	for n > 0 {
		out = append([]byte{digits[n%16]}, out...)
		n /= 16
	}
	return string(out)
}

const sseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"

// Every body framing of HTTP/1.1 is read over the pooled path, and only a
// body read to its announced end gives its connection back.
func TestH1StreamFraming(t *testing.T) {
	want := `{"choices":[{"delta":{"content":"a"}}]}|{"choices":[{"delta":{"content":"b"}}]}|[DONE]`
	tests := []struct {
		name      string
		raw       string
		close     bool
		wantConns int64
	}{
		{"chunked, split anywhere", sseHead + "Transfer-Encoding: chunked\r\n\r\n" + chunked(sseEvents[:7], sseEvents[7:50], sseEvents[50:]) + "0\r\n\r\n", false, 1},
		{"chunked with extensions and trailers", sseHead + "Transfer-Encoding: chunked\r\n\r\n" +
			hexLen(len(sseEvents)) + ";name=value\r\n" + sseEvents + "\r\n0\r\nX-Trailer: 1\r\n\r\n", false, 1},
		{"content-length", sseHead + "Content-Length: " + itoa(len(sseEvents)) + "\r\n\r\n" + sseEvents, false, 1},
		{"until the connection closes", sseHead + "Connection: close\r\n\r\n" + sseEvents, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, conns := rawServer(t, func(int) (string, bool) { return tt.raw, tt.close })
			c := newClient(t, Config{})
			ep := newEndpoint(t, url, format.AuthBearer, "k", false)
			for i := 0; i < 3; i++ {
				got, err := streamOnce(t, c, ep)
				if err != nil || got != want {
					t.Fatalf("stream %d: %q %v", i, got, err)
				}
			}
			if got := conns.Load(); got != tt.wantConns {
				t.Errorf("3 streams used %d connections, want %d", got, tt.wantConns)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var out []byte
	for n > 0 {
		out = append([]byte{byte('0' + n%10)}, out...)
		n /= 10
	}
	return string(out)
}

// A body cut before its announced end is a Connection failure after the
// data already read, never a clean end.
func TestH1StreamCut(t *testing.T) {
	first := "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
	tests := []struct{ name, raw string }{
		{"inside a chunk", sseHead + "Transfer-Encoding: chunked\r\n\r\n" + hexLen(len(first)) + "\r\n" + first + "\r\n" + "100\r\ndata: {"},
		{"before the last chunk", sseHead + "Transfer-Encoding: chunked\r\n\r\n" + chunked(first)},
		{"short of the content length", sseHead + "Content-Length: 500\r\n\r\n" + first},
		{"malformed chunk size", sseHead + "Transfer-Encoding: chunked\r\n\r\n" + chunked(first) + "zz\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := rawServer(t, func(int) (string, bool) { return tt.raw, true })
			c := newClient(t, Config{})
			ep := newEndpoint(t, url, format.AuthBearer, "k", false)
			got, err := streamOnce(t, c, ep)
			var ue *Error
			if !errors.As(err, &ue) || ue.Outcome.Kind != outcome.Connection || !ue.Started {
				t.Fatalf("got %q, %v; want a Connection failure after data", got, err)
			}
			if !strings.Contains(got, `"a"`) {
				t.Errorf("the data before the cut was not returned: %q", got)
			}
		})
	}
}

// A pooled connection the upstream closed while idle is replaced for a
// stream too, without failing it.
func TestH1StreamStaleConnection(t *testing.T) {
	raw := sseHead + "Content-Length: " + itoa(len(sseEvents)) + "\r\n\r\n" + sseEvents
	// The server closes after each answer without saying so.
	url, conns := rawServer(t, func(int) (string, bool) { return raw, true })
	c := newClient(t, Config{})
	ep := newEndpoint(t, url, format.AuthBearer, "k", false)
	for i := 0; i < 3; i++ {
		if _, err := streamOnce(t, c, ep); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d connections, want 3", got)
	}
}

// A failed stream call is classified from its status and headers, and its
// key never shows.
func TestH1StreamStatus(t *testing.T) {
	body := `{"error":{"message":"slow down, key sk-secret-123"}}`
	raw := "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
	url, conns := rawServer(t, func(int) (string, bool) { return raw, false })
	c := newClient(t, Config{})
	ep := newEndpoint(t, url, format.AuthBearer, "sk-secret-123", false)
	for i := 0; i < 2; i++ {
		_, err := streamOnce(t, c, ep)
		var ue *Error
		if !errors.As(err, &ue) || ue.Outcome.Kind != outcome.RateLimit || ue.Outcome.Cooldown != 7*time.Second || ue.Status != 429 {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(ue.Error(), "sk-secret-123") || bytes.Contains(ue.Body, []byte("sk-secret-123")) {
			t.Fatalf("the key leaked: %v", ue)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("an error answer read whole should keep its connection: %d connections", got)
	}
}

// FuzzH1Body reads arbitrary bytes as a chunked body: no panic, never more
// bytes out than in, and a clean end only after a last chunk.
func FuzzH1Body(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("5;x=y\r\nhello\r\n0\r\nA: b\r\n\r\n"))
	f.Add([]byte("ffffffffffffffff\r\n"))
	f.Add([]byte("\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		b := &h1Body{conn: &h1Conn{br: bufio.NewReaderSize(bytes.NewReader(in), 16)}, chunked: true}
		var out []byte
		buf := make([]byte, 7)
		for i := 0; i < len(in)+10; i++ {
			n, err := b.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				if !bytes.Contains(in, []byte("0")) {
					t.Fatalf("clean end without a last chunk: %q", in)
				}
				break
			}
			if err != nil {
				break
			}
		}
		if len(out) > len(in) {
			t.Fatalf("%d bytes out of %d in", len(out), len(in))
		}
	})
}

// quietServer answers every request with raw without allocating per
// request (so that allocation counts are the client's): it reads until the
// request's JSON body ends with '}' and writes the prepared answer.
func quietServer(t *testing.T, raw string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answer := []byte(raw)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 8<<10)
				for {
					n := 0
					for n == 0 || buf[n-1] != '}' {
						m, err := c.Read(buf[n:])
						if err != nil {
							return
						}
						n += m
						if n == len(buf) {
							n = 0
						}
					}
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestStreamCallAllocs guards the allocations of one stream call over the
// pooled path, read to [DONE] and closed: no goroutine, timer or buffer per
// stream.
func TestStreamCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	body := strings.Repeat(`data: {"choices":[{"delta":{"content":"word "}}]}`+"\n\n", 8) + "data: [DONE]\n\n"
	url := quietServer(t, sseHead+"Transfer-Encoding: chunked\r\n\r\n"+chunked(body[:100], body[100:])+"0\r\n\r\n")
	c := newClient(t, Config{})
	ep := newEndpoint(t, url, format.AuthBearer, "k", false)
	req := &Request{Endpoint: ep, Body: []byte(`{"model":"m","stream":true}`), Stream: true}
	call := func() {
		resp, err := c.Do(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		s := resp.Stream()
		for {
			ch, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ch.Done {
				break
			}
		}
		resp.Close()
	}
	for range 5 {
		call()
	}
	n := testing.AllocsPerRun(200, call)
	t.Logf("%.0f allocations per stream call", n)
	if n > 6 { // measured: 4 (Response, Stream, context.AfterFunc's two)
		t.Errorf("%.0f allocations per stream call, want at most 6", n)
	}
}

// TestNonStreamCallAllocs guards the allocations of one non-stream call
// over the pooled path, read whole and closed.
func TestNonStreamCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	answer := `{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":1}}`
	url := quietServer(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(answer))+"\r\n\r\n"+answer)
	c := newClient(t, Config{})
	ep := newEndpoint(t, url, format.AuthBearer, "k", false)
	req := &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`)}
	var buf []byte
	call := func() {
		resp, err := c.Do(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		buf, err = resp.ReadAll(buf[:0])
		resp.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		call()
	}
	n := testing.AllocsPerRun(200, call)
	t.Logf("%.0f allocations per call", n)
	if n > 6 { // measured: 4 (Response, its memBody, context.AfterFunc's two)
		t.Errorf("%.0f allocations per call, want at most 6", n)
	}
}

// Events an upstream sent as one HTTP chunk each but that arrived together
// are all buffered by the first Next, so a relay sends them in one write
// (Pending), and the end of the body is seen without another read.
func TestH1StreamChunksArrivedTogether(t *testing.T) {
	ev := func(s string) string { return `data: {"choices":[{"delta":{"content":"` + s + `"}}]}` + "\n\n" }
	raw := sseHead + "Transfer-Encoding: chunked\r\n\r\n" + chunked(ev("a"), ev("b"), ev("c"), "data: [DONE]\n\n") + "0\r\n\r\n"
	url, _ := rawServer(t, func(int) (string, bool) { return raw, false })
	c := newClient(t, Config{})
	ep := newEndpoint(t, url, format.AuthBearer, "k", false)
	resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m","stream":true}`), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	s := resp.Stream()
	for i := 0; ; i++ {
		ch, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ch.Done {
			if i != 3 {
				t.Fatalf("[DONE] after %d events, want 3", i)
			}
			break
		}
		if !s.Pending() {
			t.Fatalf("after event %d the next one is not pending: the chunks were not read together", i)
		}
	}
	if !resp.h1.eof {
		t.Error("the end of the chunked body was not read with the last events")
	}
}

// A client that goes away mid-stream ends the upstream read at once as
// Canceled (nothing cools down), whether the cancellation comes before the
// next read or while it waits.
func TestH1StreamCanceledMidStream(t *testing.T) {
	first := `data: {"choices":[{"delta":{"content":"a"}}]}` + "\n\n"
	// One event, then the upstream keeps the stream open and silent.
	raw := sseHead + "Transfer-Encoding: chunked\r\n\r\n" + chunked(first)
	for _, whileWaiting := range []bool{false, true} {
		url, _ := rawServer(t, func(int) (string, bool) { return raw, false })
		c := newClient(t, Config{ReadTimeout: time.Hour})
		ep := newEndpoint(t, url, format.AuthBearer, "k", false)
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := c.Do(ctx, &Request{Endpoint: ep, Body: []byte(`{"model":"m","stream":true}`), Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		s := resp.Stream()
		if ch, err := s.Next(); err != nil || ch.Done {
			t.Fatalf("first event: %+v %v", ch, err)
		}
		if whileWaiting {
			stop := time.AfterFunc(20*time.Millisecond, cancel) // lands before or during the read: both end it
			defer stop.Stop()
		} else {
			cancel()
		}
		_, err = s.Next()
		var ue *Error
		if !errors.As(err, &ue) || ue.Outcome.Kind != outcome.Canceled || !ue.Started {
			t.Errorf("while waiting %v: got %v", whileWaiting, err)
		}
		resp.Close()
		cancel()
	}
}
