package discover

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An answer without Content-Length is read up to MaxBody and no further.
func TestGetBoundsUndeclaredBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<20))
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i < 64; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	_, _, err := get(context.Background(), NewClient(), request{url: srv.URL + "/v1/models", header: http.Header{}}, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "larger than 32 MB") {
		t.Fatalf("err %v", err)
	}
}

func TestStatusErrorKinds(t *testing.T) {
	cases := []struct {
		status int
		body   string
		kind   string
	}{
		{401, `{"error":{"message":"Incorrect API key provided: sk-abcd1234"}}`, KindInvalidKey},
		{403, `{"error":{"message":"forbidden"}}`, KindInvalidKey},
		{403, `{"error":{"message":"Rate limit exceeded"}}`, KindRateLimit},
		{402, `{"error":"Insufficient balance"}`, KindQuotaExceeded},
		{429, `{"error":{"message":"You exceeded your current quota"}}`, KindQuotaExceeded},
		{429, `{"message":"slow down"}`, KindRateLimit},
		{502, `<html>bad gateway</html>`, KindServerError},
		{404, ``, KindUnknown},
	}
	for _, c := range cases {
		err := statusError("GET x", c.status, []byte(c.body), "sk-abcd1234")
		ce := err.(*callError)
		if ce.Kind != c.kind || strings.Contains(ce.Msg, "sk-abcd1234") {
			t.Errorf("%d %s: %s %q", c.status, c.body, ce.Kind, ce.Msg)
		}
	}
}

func TestSafeURLDropsQuery(t *testing.T) {
	if got := safeURL("https://user:pw@h.example/v1/models?key=secret"); got != "https://h.example/v1/models" {
		t.Errorf("safeURL: %s", got)
	}
}
