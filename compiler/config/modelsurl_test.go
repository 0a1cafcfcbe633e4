package config

import (
	"strings"
	"testing"

	"smartrouter/compiler/diag"
)

func TestModelsURLAndFallbacks(t *testing.T) {
	doc := `providers:
  p:
    base_url: "https://api.example.com/v1"
channels:
  - id: a
    provider: p
    model_name: auto
    api_key: "${K}"
    models_url: "https://list.example.com/models"
    fallback_urls: ["https://mirror1.example.com/v1/models", "https://mirror2.example.com/v1/models"]
  - id: b
    provider: p
    model_name: auto
    api_key: "${K}"
    fallback_urls: "https://mirror.example.com/v1/models"
`
	var w diag.Warnings
	c, err := LoadBytes("inline.yaml", []byte(doc), Options{}, &w)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Channel("a"), c.Channel("b")
	if a.ModelsURL != "https://list.example.com/models" || len(a.FallbackURLs) != 2 || a.FallbackURLs[1] != "https://mirror2.example.com/v1/models" {
		t.Errorf("a: %q %q", a.ModelsURL, a.FallbackURLs)
	}
	if b.ModelsURL != "" || len(b.FallbackURLs) != 1 {
		t.Errorf("b: %q %q", b.ModelsURL, b.FallbackURLs)
	}
	for _, x := range w.List() {
		if strings.Contains(x.Msg, "unknown key") {
			t.Errorf("warning %v", x)
		}
	}
	bad := strings.Replace(doc, `"https://list.example.com/models"`, `"ftp://x"`, 1)
	if _, err := LoadBytes("inline.yaml", []byte(bad), Options{}, nil); err == nil || !strings.Contains(err.Error(), "models_url") {
		t.Errorf("a bad models_url: %v", err)
	}
}
