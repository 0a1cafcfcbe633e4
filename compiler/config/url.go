package config

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// BaseURLs returns a channel's effective base URLs: its own base_url (string
// or list) when set, else its provider's base_url, else nil.
func (c *Config) BaseURLs(ch *Channel) []string {
	if len(ch.BaseURLs) > 0 {
		return ch.BaseURLs
	}
	if p := c.Provider(ch.Provider); p != nil && p.BaseURL != "" {
		return []string{p.BaseURL}
	}
	return nil
}

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

// IsLoopbackURL reports whether a base URL points at the local machine (see
// IsLoopbackHost). An unparsable URL is not loopback.
func IsLoopbackURL(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return false
	}
	return IsLoopbackHost(u.Hostname())
}
