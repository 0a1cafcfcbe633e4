package vocab

import (
	"testing"

	"smartrouter/format"
)

func TestIsPlaceholder(t *testing.T) {
	yes := []string{"", "   ", "YOUR_GROQ_API_KEY_HERE", "your-secret-token-here", "your token", "Your_Api_Key",
		"你的_GROQ_API_密钥", "PUT_KEY_HERE", "paste-it-here", "<api-key>", "changeme", "REPLACE_ME", "placeholder", "TODO",
		"xxx", "XXXXXXXX", "sk-xxx", "sk-XXXXXXXXXXXX", "sk-or-v1-xxxxxxxx", "gsk_xxx", "sk-ant-api03-...", "***", "sk-***", "..."}
	no := []string{"sk-proj-4f9c2b7e", "ollama", "none", "dummy", "yourcompany-token", "sk-xx", "sk-abcxxx", "xx",
		"sk--xxx", "-xxx", "sk-x y-xxx", "gsk_7f2a", "sk-or-v1-0a1b2c", "here", "ehere", "${KEY}", "x-here-x"}
	for _, s := range yes {
		if !IsPlaceholder(s) {
			t.Errorf("IsPlaceholder(%q) = false, want true", s)
		}
	}
	for _, s := range no {
		if IsPlaceholder(s) {
			t.Errorf("IsPlaceholder(%q) = true, want false", s)
		}
	}
}

func TestIsPlaceholderKey(t *testing.T) {
	for k, want := range map[string]bool{
		"": true, " YOUR_KEY_HERE ": true, "${OPENAI_API_KEY}": true, "sk-xxx": true,
		"sk-proj-4f9c2b7e": false, "ollama": false, "$OPENAI": false,
	} {
		if got := IsPlaceholderKey(k); got != want {
			t.Errorf("IsPlaceholderKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestResolveSecretAndHasKey(t *testing.T) {
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"REAL": "  sk-real  ", "PH": "YOUR_KEY_HERE", "EMPTY": "", "REF": "${OTHER}"}[name]
		return v, ok
	}
	tests := []struct {
		s       format.Secret
		env     func(string) (string, bool)
		value   string
		hasKey  bool
		describ string
	}{
		{format.Secret{Env: "REAL"}, env, "sk-real", true, "${REAL}"},
		{format.Secret{Env: "PH"}, env, "YOUR_KEY_HERE", false, "${PH}"},
		{format.Secret{Env: "EMPTY"}, env, "", false, "${EMPTY}"},
		{format.Secret{Env: "REF"}, env, "${OTHER}", false, "${REF}"},
		{format.Secret{Env: "UNSET"}, env, "", false, "${UNSET}"},
		{format.Secret{Env: "REAL"}, nil, "", false, "${REAL}"},
		{format.Secret{Literal: " ollama "}, nil, "ollama", true, "the literal value in the config"},
		{format.Secret{Literal: "sk-xxx"}, env, "sk-xxx", false, "the literal value in the config"},
		{format.Secret{}, env, "", false, "an empty value"},
	}
	for _, tt := range tests {
		if got := ResolveSecret(tt.s, tt.env); got != tt.value {
			t.Errorf("ResolveSecret(%+v) = %q, want %q", tt.s, got, tt.value)
		}
		if got := HasKey(tt.s, tt.env); got != tt.hasKey {
			t.Errorf("HasKey(%+v) = %v, want %v", tt.s, got, tt.hasKey)
		}
		if got := DescribeSecret(tt.s); got != tt.describ {
			t.Errorf("DescribeSecret(%+v) = %q, want %q", tt.s, got, tt.describ)
		}
	}
}

func TestIsLoopbackHost(t *testing.T) {
	hosts := map[string]bool{
		"localhost": true, "LOCALHOST.": true, "api.localhost": true, "127.0.0.1": true, "127.8.9.10:11434": true,
		"::1": true, "[::1]:8080": true, "0.0.0.0": true, "::": true, "::ffff:127.0.0.1": true, "fe80::1%lo0": false,
		"192.168.1.10": false, "10.0.0.1": false, "example.com": false, "localhost.example.com": false, "": false, "128.0.0.1": false,
	}
	for h, want := range hosts {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", h, got, want)
		}
	}
	urls := map[string]bool{
		"http://localhost:11434": true, "http://[::1]:1234/v1": true, "https://api.groq.com/openai": false,
		"http://0.0.0.0:8000": true, "not a url": false, "://": false,
	}
	for u, want := range urls {
		if got := IsLoopbackURL(u); got != want {
			t.Errorf("IsLoopbackURL(%q) = %v, want %v", u, got, want)
		}
	}
}

func TestIsLocalChannel(t *testing.T) {
	tests := []struct {
		c    format.Channel
		want bool
	}{
		{format.Channel{Tags: []string{"local"}, BaseURLs: []string{"https://api.example.com"}}, true},
		{format.Channel{Tags: []string{"Local"}}, false}, // the tag "local" is matched exactly
		{format.Channel{BaseURLs: []string{"http://localhost:11434", "127.0.0.1:1234"}}, true},
		{format.Channel{BaseURLs: []string{"http://localhost:11434", "https://api.example.com"}}, false},
		{format.Channel{}, false},
	}
	for i, tt := range tests {
		if got := IsLocalChannel(&tt.c); got != tt.want {
			t.Errorf("case %d: IsLocalChannel(%+v) = %v, want %v", i, tt.c, got, tt.want)
		}
	}
}
