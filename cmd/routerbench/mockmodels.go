package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The mock answers every model-list call with one shared list unless a key
// has its own. A refresh of the scale installation asks every channel for
// its models again (routerd's discovery task), so with the shared list the
// refreshed snapshot would hold the mock's few models instead of the
// fixture's thousands of pairs, and the phase's model would vanish. Before
// a phase that discovers, the harness gives each channel's key (every
// channel of the fixtures has its own ${VAR}, set to its own dummy value)
// the model list the fixture's discovery cache holds for that channel: a
// refresh then finds what the last discovery found, as it would against
// providers whose lists did not change. A channel whose cache entry has no
// model (its last discovery failed) gets an empty list, which discovery
// treats as a failure too, keeping the entry as it was; so does a channel
// with no entry at all.

// channelKeyLists maps the key of each channel of the config folder to the
// models of its entry in the discovery cache of cacheDir. env holds the
// NAME=value entries the config's ${NAME} references resolve to. A
// channel with a key but no cache entry gets an empty list and is also
// returned in missing.
func channelKeyLists(configDir, cacheDir string, env []string) (map[string][]string, []string, error) {
	vals := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vals[k] = v
		}
	}
	disc, err := discoveryFile(cacheDir)
	if err != nil {
		return nil, nil, err
	}
	raw, err := os.ReadFile(disc)
	if err != nil {
		return nil, nil, fmt.Errorf("read the discovery cache: %w", err)
	}
	var entries map[string]struct {
		ChannelID string   `json:"channel_id"`
		Models    []string `json:"models"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", disc, err)
	}
	byChannel := map[string][]string{}
	for name, e := range entries {
		id := e.ChannelID
		if id == "" {
			id = name
		}
		byChannel[id] = append(byChannel[id], e.Models...)
	}
	lists := map[string][]string{}
	var missing []string
	for _, f := range configFiles() {
		src, err := os.ReadFile(filepath.Join(configDir, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		chans := mapValue(doc.Content[0], "channels")
		if chans == nil || chans.Kind != yaml.SequenceNode {
			continue
		}
		for _, ch := range chans.Content {
			id, key := scalar(mapValue(ch, "id")), scalar(mapValue(ch, "api_key"))
			if m := envRef.FindStringSubmatch(key); m != nil && m[0] == key {
				key = vals[m[1]]
			}
			if id == "" || key == "" {
				continue
			}
			models, ok := byChannel[id]
			if !ok {
				// No entry: its discovery never succeeded. An empty list
				// fails discovery again, and the compiler keeps using the
				// configured models, as before the refresh.
				missing = append(missing, id)
			}
			prev, seen := lists[key]
			if !seen {
				lists[key] = append([]string{}, models...)
				continue
			}
			// Two channels with the same key see one list: the union.
			l := append(prev, models...)
			slices.Sort(l)
			lists[key] = slices.Compact(l)
		}
	}
	return lists, missing, nil
}

// scalar is the text of a scalar node, or "".
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return strings.TrimSpace(n.Value)
}

// serveFixtureModels makes the mock answer each channel of in with the
// model list of the fixture's discovery cache; it returns the lists by key.
func (h *harness) serveFixtureModels(ctx context.Context, in *install) (map[string][]string, error) {
	lists, missing, err := channelKeyLists(in.ConfigDir, in.CacheDir, in.Env)
	if err != nil {
		return nil, fmt.Errorf("read the fixture's model lists: %w", err)
	}
	if len(missing) > 0 {
		h.log.Info("channels without a discovery cache entry get an empty model list, as their last discovery failed", "channels", strings.Join(missing, ","))
	}
	c := newClient(10 * time.Second)
	defer c.CloseIdleConnections()
	for key, ids := range lists {
		if err := h.setKeyModels(ctx, c, key, ids); err != nil {
			return nil, err
		}
	}
	return lists, nil
}

// setKeyModels makes the mock answer the model-list calls that carry key
// with ids.
func (h *harness) setKeyModels(ctx context.Context, c *http.Client, key string, ids []string) error {
	body, _ := json.Marshal(ids) // a list of strings
	resp, b, err := post(ctx, c, "http://"+h.mockAddr+"/_mock/models?key="+url.QueryEscape(key), "", body)
	if err != nil {
		return fmt.Errorf("POST /_mock/models: %w", err)
	}
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST /_mock/models: status %d: %s", resp.StatusCode, tail(string(b), 200))
	}
	return nil
}
