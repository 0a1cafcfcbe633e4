package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The chat and load measurements need every channel to call the mock
// upstream. The fixtures' channels name real provider URLs, so the harness
// copies a fixture's config/ folder and rewrites, in the YAML node tree,
// every provider's base_url and every channel's own base_url (string or
// list) to the mock's address. It also lifts the fixture's request limits
// (liftLimits): a provider's rate_limit (requests per minute per channel)
// and a channel's daily_limit are enforced by routing, and at the
// harness's rates (1,000 req/s and more, all to one model) they would
// filter every channel within a second and turn the load into 503s: they
// stay set, to limits no load reaches, so routing still checks them on
// every request. Nothing else changes: the same channels, pairs, caches
// and settings go into the snapshot, so its size and shape are those of the
// fixture.

// configFiles are the YAML files of config/ that may define providers or
// channels.
func configFiles() []string { return []string{"router_config.yaml", "providers.yaml"} }

// authTokens are the client tokens the harness must send.
type authTokens struct {
	API, Admin string
}

// rewriteBaseURLs returns the YAML document src with every providers.*.
// base_url and channels[].base_url set to url, and how many it changed.
// Providers without a base_url get one.
func rewriteBaseURLs(src []byte, url string) ([]byte, int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, 0, fmt.Errorf("parse the config YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return src, 0, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, 0, fmt.Errorf("the config's top level is not a mapping")
	}
	n := 0
	if p := mapValue(root, "providers"); p != nil && p.Kind == yaml.MappingNode {
		for i := 1; i < len(p.Content); i += 2 {
			if setBaseURL(p.Content[i], url, true) {
				n++
			}
		}
	}
	if c := mapValue(root, "channels"); c != nil && c.Kind == yaml.SequenceNode {
		for _, ch := range c.Content {
			if setBaseURL(ch, url, false) {
				n++
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, 0, fmt.Errorf("write the rewritten config YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, 0, fmt.Errorf("write the rewritten config YAML: %w", err)
	}
	return buf.Bytes(), n, nil
}

// Limits no load of the harness reaches (rate_limit is per minute,
// daily_limit per UTC day).
const (
	liftedRateLimit  = "100000000"
	liftedDailyLimit = "1000000000000"
)

// liftLimits returns the YAML document src with every providers.*.
// rate_limit and channels[].daily_limit that is set to a positive number
// replaced by a limit no load reaches, and how many it changed.
func liftLimits(src []byte) ([]byte, int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, 0, fmt.Errorf("parse the config YAML: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return src, 0, nil
	}
	root := doc.Content[0]
	n := 0
	set := func(m *yaml.Node, key, val string) {
		v := mapValue(m, key)
		if v == nil || v.Kind != yaml.ScalarNode || v.Value == "" || v.Value == "0" || strings.HasPrefix(v.Value, "-") {
			return
		}
		v.Value, v.Tag, v.Style = val, "!!int", 0
		n++
	}
	if p := mapValue(root, "providers"); p != nil && p.Kind == yaml.MappingNode {
		for i := 1; i < len(p.Content); i += 2 {
			set(p.Content[i], "rate_limit", liftedRateLimit)
		}
	}
	if c := mapValue(root, "channels"); c != nil && c.Kind == yaml.SequenceNode {
		for _, ch := range c.Content {
			set(ch, "daily_limit", liftedDailyLimit)
		}
	}
	if n == 0 {
		return src, 0, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, 0, fmt.Errorf("write the config YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, 0, fmt.Errorf("write the config YAML: %w", err)
	}
	return buf.Bytes(), n, nil
}

// mapValue returns the value of key in mapping node m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setBaseURL replaces the base_url of mapping m by url (adding one when add
// is set and there is none) and reports whether it did.
func setBaseURL(m *yaml.Node, url string, add bool) bool {
	if m.Kind != yaml.MappingNode {
		return false
	}
	val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: url, Style: yaml.DoubleQuotedStyle}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "base_url" {
			m.Content[i+1] = val
			return true
		}
	}
	if !add {
		return false
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "base_url"}, val)
	return true
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// envRefs lists the ${NAME} references of text, sorted and unique.
func envRefs(text string) []string {
	var out []string
	for _, m := range envRef.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// benchEnv gives every referenced variable a harmless value that the mock
// accepts (no "fail-" in it) and returns the environment entries and the
// map used to resolve tokens.
func benchEnv(names []string) ([]string, map[string]string) {
	vals := make(map[string]string, len(names))
	env := make([]string, 0, len(names))
	for _, n := range names {
		v := "bench-" + strings.ToLower(n)
		vals[n] = v
		env = append(env, n+"="+v)
	}
	return env, vals
}

// tokensOf reads auth.api_token and auth.admin.admin_token of a config and
// resolves ${NAME} through vals.
func tokensOf(src []byte, vals map[string]string) (authTokens, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return authTokens{}, fmt.Errorf("parse the config YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return authTokens{}, nil
	}
	auth := mapValue(doc.Content[0], "auth")
	resolve := func(n *yaml.Node) string {
		if n == nil || n.Kind != yaml.ScalarNode {
			return ""
		}
		if m := envRef.FindStringSubmatch(n.Value); m != nil && m[0] == strings.TrimSpace(n.Value) {
			return vals[m[1]]
		}
		return strings.TrimSpace(n.Value)
	}
	return authTokens{
		API:   resolve(mapValue(auth, "api_token")),
		Admin: resolve(mapValue(mapValue(auth, "admin"), "admin_token")),
	}, nil
}

// install is a fixture installation prepared for routerd.
type install struct {
	Name      string
	ConfigDir string   // the copy with base URLs on the mock
	CacheDir  string   // dst/cache: links to the fixture's own cache files (routerd writes its request patterns there)
	Env       []string // NAME=value for every ${NAME} of the config
	Tokens    authTokens
	CacheMB   float64 // size of cache/*.json, MB
}

// prepareInstall copies src/config to dst/config with every base URL on
// mockURL and collects the variables the config references.
func prepareInstall(name, src, dst, mockURL string) (*install, error) {
	cfgSrc := filepath.Join(src, "config")
	cfgDst := filepath.Join(dst, "config")
	if err := copyTree(cfgSrc, cfgDst); err != nil {
		return nil, err
	}
	var all strings.Builder
	changed := 0
	for _, f := range configFiles() {
		p := filepath.Join(cfgDst, f)
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		out, n, err := rewriteBaseURLs(b, mockURL)
		if err == nil {
			out, _, err = liftLimits(out)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if err := os.WriteFile(p, out, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		changed += n
		all.Write(b)
	}
	if changed == 0 {
		return nil, fmt.Errorf("%s: no provider or channel base_url found to point at the mock", cfgSrc)
	}
	env, vals := benchEnv(envRefs(all.String()))
	main, err := os.ReadFile(filepath.Join(cfgDst, "router_config.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read the rewritten config: %w", err)
	}
	tok, err := tokensOf(main, vals)
	if err != nil {
		return nil, err
	}
	cacheDir, err := linkCache(filepath.Join(src, "cache"), filepath.Join(dst, "cache"))
	if err != nil {
		return nil, err
	}
	in := &install{Name: name, ConfigDir: cfgDst, CacheDir: cacheDir, Env: env, Tokens: tok}
	in.CacheMB = dirMB(filepath.Join(src, "cache")) // the fixture's files (CacheDir holds links)
	return in, nil
}

// dirMB is the total size of the regular files under dir, in MB (1e6).
func dirMB(dir string) float64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			total += fi.Size()
		}
		return nil
	})
	return float64(total) / 1e6
}

// copyTree copies the regular files and folders under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, out)
	})
}

// copyFile copies one regular file through a temporary file renamed over
// dst, so a process that still maps the old dst is not disturbed.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
