package vocab

import (
	"net"
	"net/netip"
	"net/url"
	"strings"

	"smartrouter/format"
)

// IsLoopbackHost reports whether host (optionally with a port, IPv6 with or
// without brackets) names the local machine: localhost and *.localhost,
// 127.0.0.0/8, ::1, and the unspecified addresses 0.0.0.0 and ::.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // IPv6 zone
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsUnspecified()
}

// IsLoopbackURL reports whether the host of a base URL is a loopback host
// (IsLoopbackHost). A URL without a scheme ("localhost:11434") is read as
// http; an unparsable URL is not loopback.
func IsLoopbackURL(baseURL string) bool {
	s := strings.TrimSpace(baseURL)
	if s != "" && !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	return IsLoopbackHost(u.Hostname())
}

// IsLocalChannel reports whether a channel serves from this machine: it is
// tagged "local" (exactly), or it has base URLs and every one is on a
// loopback host. Local servers such as Ollama or LM Studio take no key, so
// the router keeps such a channel usable without one.
func IsLocalChannel(c *format.Channel) bool {
	for _, t := range c.Tags {
		if t == "local" {
			return true
		}
	}
	if len(c.BaseURLs) == 0 {
		return false
	}
	for _, u := range c.BaseURLs {
		if !IsLoopbackURL(u) {
			return false
		}
	}
	return true
}
