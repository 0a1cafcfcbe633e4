package upstream

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"smartrouter/format"
)

func TestChatURL(t *testing.T) {
	tests := []struct{ base, chat, models string }{
		{"https://api.openai.com", "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/models"},
		{"https://api.openai.com/", "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/models"},
		{"https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/models"},
		{"https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/models"},
		{"https://api.openai.com/v1//", "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/models"},
		{"https://ark.cn-beijing.volces.com/api/v3", "https://ark.cn-beijing.volces.com/api/v3/chat/completions", "https://ark.cn-beijing.volces.com/api/v3/models"},
		{"https://open.bigmodel.cn/api/paas/v4/", "https://open.bigmodel.cn/api/paas/v4/chat/completions", "https://open.bigmodel.cn/api/paas/v4/models"},
		{"https://generativelanguage.googleapis.com/v1beta", "https://generativelanguage.googleapis.com/v1beta/chat/completions", "https://generativelanguage.googleapis.com/v1beta/models"},
		{"https://openrouter.ai/api", "https://openrouter.ai/api/v1/chat/completions", "https://openrouter.ai/api/v1/models"},
		{"https://generativelanguage.googleapis.com/v1beta/openai/", "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions", "https://generativelanguage.googleapis.com/v1beta/openai/models"},
		{"https://example.com/openai", "https://example.com/openai/v1/chat/completions", "https://example.com/openai/v1/models"},
		{"https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/chat/completions", "https://api.groq.com/openai/v1/models"},
		{"http://localhost:11434", "http://localhost:11434/v1/chat/completions", "http://localhost:11434/v1/models"},
		{"http://127.0.0.1:1234/v1", "http://127.0.0.1:1234/v1/chat/completions", "http://127.0.0.1:1234/v1/models"},
		{"  https://x.io/v2  ", "https://x.io/v2/chat/completions", "https://x.io/v2/models"},
		{"https://x.io/version", "https://x.io/version/v1/chat/completions", "https://x.io/version/v1/models"},
		{"https://x.io/v", "https://x.io/v/v1/chat/completions", "https://x.io/v/v1/models"},
		{"https://x.io/v1x", "https://x.io/v1x/v1/chat/completions", "https://x.io/v1x/v1/models"},
		{"https://x.io/v1/extra", "https://x.io/v1/extra/v1/chat/completions", "https://x.io/v1/extra/v1/models"},
		{"https://x.io/a%20b", "https://x.io/a%20b/v1/chat/completions", "https://x.io/a%20b/v1/models"},
		{"https://x.io/deploy?api-version=2024-02-01", "https://x.io/deploy/v1/chat/completions?api-version=2024-02-01", "https://x.io/deploy/v1/models?api-version=2024-02-01"},
		{"https://x.io/v1#frag", "https://x.io/v1/chat/completions", "https://x.io/v1/models"},
	}
	for _, tt := range tests {
		chat, err := ChatURL(tt.base)
		if err != nil || chat != tt.chat {
			t.Errorf("ChatURL(%q) = %q, %v; want %q", tt.base, chat, err, tt.chat)
		}
		models, err := ModelsURL(tt.base)
		if err != nil || models != tt.models {
			t.Errorf("ModelsURL(%q) = %q, %v; want %q", tt.base, models, err, tt.models)
		}
	}
}

func TestChatURLErrors(t *testing.T) {
	for _, base := range []string{"", "api.openai.com/v1", "ftp://x.io", "https://", "http://user:hunter2@[::1/v1", "://x"} {
		u, err := ChatURL(base)
		if err == nil {
			t.Errorf("ChatURL(%q) = %q, want an error", base, u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the URL password: %v", err)
		}
	}
}

func TestNewEndpoint(t *testing.T) {
	tests := []struct {
		auth       uint8
		key        string
		name, vals string
	}{
		{format.AuthBearer, "sk-1", "Authorization", "Bearer sk-1"},
		{format.AuthXAPIKey, "sk-2", "X-Api-Key", "sk-2"},
		{format.AuthAPIKey, "sk-3", "Api-Key", "sk-3"},
		{format.AuthBearer, "", "", ""},
	}
	for _, tt := range tests {
		ep, err := NewEndpoint("http://127.0.0.1:9/v1", tt.auth, tt.key, false)
		if err != nil {
			t.Fatal(err)
		}
		if ep.authName != tt.name || strings.Join(ep.authValue, ",") != tt.vals {
			t.Errorf("auth %d: header %q=%q, want %q=%q", tt.auth, ep.authName, ep.authValue, tt.name, tt.vals)
		}
		if ep.Host() != "127.0.0.1:9" {
			t.Errorf("Host() = %q", ep.Host())
		}
	}
	if _, err := NewEndpoint("http://x.io", 7, "sk-secret", false); err == nil || strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("unknown auth type: err = %v (want an error without the key)", err)
	}
	if _, err := NewEndpoint("http://x.io", format.AuthBearer, "sk\nsecret", false); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("key with a newline: err = %v (want an error without the key)", err)
	}
	if _, err := NewEndpoint("x.io", format.AuthBearer, "k", false); err == nil {
		t.Error("URL without scheme accepted")
	}
}

func TestIsOpenRouter(t *testing.T) {
	tests := []struct {
		adapter, key string
		want         bool
	}{
		{"OpenRouterAdapter", "or2", true},
		{"OpenAIAdapter", "openrouter", true},
		{"OpenAIAdapter", "OpenRouter", true},
		{"OpenAIAdapter", "openai", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := IsOpenRouter(tt.adapter, tt.key); got != tt.want {
			t.Errorf("IsOpenRouter(%q, %q) = %v", tt.adapter, tt.key, got)
		}
	}
}

func TestEndpointPrintsNoKey(t *testing.T) {
	if _, err := NewEndpoint("https://u:pw@x.io/v1", format.AuthBearer, "k", false); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("base URL with a password: err = %v", err)
	}
	ep, err := NewEndpoint("https://x.io/v1?key=qsecret", format.AuthBearer, "sk-secret-key", true)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "ep", ep)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "ep", ep)
	for _, s := range []string{fmt.Sprint(ep), fmt.Sprintf("%+v", ep), fmt.Sprintf("%#v", ep), fmt.Sprintf("%v", *ep), logged.String()} {
		if strings.Contains(s, "sk-secret-key") || strings.Contains(s, "qsecret") {
			t.Errorf("printed endpoint shows a secret: %s", s)
		}
	}
}

func TestIsAnthropic(t *testing.T) {
	for _, c := range []struct {
		adapter, key string
		auth         uint8
		want         bool
	}{
		{"", "anthropic", format.AuthBearer, true},
		{"", "Anthropic", format.AuthBearer, true},
		{"AnthropicAdapter", "claude-proxy", format.AuthBearer, true},
		{"", "other", format.AuthXAPIKey, true},
		{"OpenAIAdapter", "openai", format.AuthBearer, false},
		{"", "azure", format.AuthAPIKey, false},
	} {
		if got := IsAnthropic(c.adapter, c.key, c.auth); got != c.want {
			t.Errorf("IsAnthropic(%q, %q, %d) = %v, want %v", c.adapter, c.key, c.auth, got, c.want)
		}
	}
	ep, err := NewEndpoint("https://api.anthropic.com", format.AuthXAPIKey, "k", false)
	if err != nil {
		t.Fatal(err)
	}
	if ep.MessagesURL != "https://api.anthropic.com/v1/messages" || ep.url(OpMessages) != ep.MessagesURL {
		t.Errorf("MessagesURL = %q", ep.MessagesURL)
	}
}
