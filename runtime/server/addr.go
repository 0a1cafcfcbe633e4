package server

import (
	"net"
	"strconv"
	"strings"
)

// ListenAddr picks the address to listen on:
//
//   - flagAddr when it is not empty (the -addr flag always wins);
//   - else server.host and server.port of the snapshot settings, except that
//     an empty host and the wildcard hosts 0.0.0.0 and :: become 127.0.0.1:
//     the config's default host is 0.0.0.0 and cannot be told apart from
//     one written on purpose, and a router that holds provider keys should
//     not be reachable from the network unless asked for with -addr;
//   - an unset port is 7601.
//
// mapped reports that a wildcard host was replaced, so that the caller can
// say so in its start-up line.
func (s *Server) ListenAddr(flagAddr string) (addr string, mapped bool) {
	if flagAddr != "" {
		return flagAddr, false
	}
	host, port := "", 0
	if h := s.mgr.Acquire(); h != nil {
		set := h.Snapshot().Settings()
		host = strings.Clone(set.Host)
		port = int(set.Port)
		h.Release()
	}
	return listenAddr(host, port)
}

func listenAddr(host string, port int) (string, bool) {
	mapped := false
	switch strings.Trim(strings.TrimSpace(host), "[]") {
	case "":
		host = DefaultHost
	case "0.0.0.0", "::":
		host, mapped = DefaultHost, true
	}
	if port <= 0 || port > 65535 {
		port = DefaultPort
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port)), mapped
}
