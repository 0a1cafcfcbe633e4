package server

import "testing"

func TestListenAddr(t *testing.T) {
	cases := []struct {
		host   string
		port   int
		want   string
		mapped bool
	}{
		{"", 0, "127.0.0.1:7601", false},
		{"0.0.0.0", 8080, "127.0.0.1:8080", true},
		{"::", 7601, "127.0.0.1:7601", true},
		{"[::]", 7601, "127.0.0.1:7601", true},
		{"127.0.0.1", 9000, "127.0.0.1:9000", false},
		{"10.1.2.3", 7601, "10.1.2.3:7601", false},
		{"::1", 7601, "[::1]:7601", false},
		{"localhost", 70000, "localhost:7601", false},
	}
	for _, tc := range cases {
		got, mapped := listenAddr(tc.host, tc.port)
		if got != tc.want || mapped != tc.mapped {
			t.Errorf("listenAddr(%q, %d) = %q, %v; want %q, %v", tc.host, tc.port, got, mapped, tc.want, tc.mapped)
		}
	}
	h := start(t, harnessOpt{})
	if got, _ := h.srv.ListenAddr("127.0.0.1:0"); got != "127.0.0.1:0" {
		t.Errorf("the flag does not win: %q", got)
	}
	if got, _ := h.srv.ListenAddr(""); got != "127.0.0.1:7601" {
		t.Errorf("from settings: %q", got)
	}
}
