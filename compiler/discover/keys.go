package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"smartrouter/compiler"
	"smartrouter/compiler/cache"
	"smartrouter/compiler/config"
)

// Key-check backoff: the next check of a key is due BackoffBase ×
// 2^consecutive failures after the last one, at most BackoffMax.
const (
	BackoffBase = 6 * time.Hour
	BackoffMax  = 24 * time.Hour
)

// Backoff returns the wait before the next check of a key after failures
// consecutive failed checks (0 after a good one).
func Backoff(failures int) time.Duration {
	if failures >= 3 { // 6 h × 8 is already past the cap
		return BackoffMax
	}
	return min(BackoffBase<<failures, BackoffMax)
}

// KeyOptions tune ValidateKeys; the fields mean what they mean in Options.
type KeyOptions struct {
	ConfigDir   string
	CacheDir    string
	Channels    []string
	Concurrency int
	Timeout     time.Duration
	Client      *http.Client
	Now         func() time.Time
	Progress    func(KeyEvent)
	LookupEnv   func(string) (string, bool)
	// Force checks every selected key now; without it a key whose
	// next_validation is still ahead (and that has not changed) is skipped.
	Force bool
}

// KeyResult is the verdict on one channel's key.
type KeyResult struct {
	ID     string
	Status string // StatusOK (checked and valid), StatusError (the check failed) or StatusSkipped
	// Valid is the verdict written: false only when the provider refused
	// the key (invalid_key, quota_exceeded); a rate limit, a server or
	// network error leaves the previous verdict (valid when none).
	Valid               bool
	ErrorType           string // "", invalid_key, quota_exceeded, rate_limit, server_error, network_error or unknown
	StatusCode          int
	Latency             time.Duration
	ConsecutiveFailures int
	NextValidation      time.Time
	Error               string // never holds the key
}

// KeyEvent reports progress: Done of Total channels are finished.
type KeyEvent struct {
	Done, Total int
	Channel     KeyResult
}

// KeyReport is the result of ValidateKeys.
type KeyReport struct {
	Path     string
	Channels []KeyResult // config order
	Changed  bool        // the cache file was written
	Elapsed  time.Duration
}

// keyJob is one key to check.
type keyJob struct {
	job
	kres    *KeyResult
	prev    keyPrev
	checked bool
}

// keyPrev is what the old file said about a channel.
type keyPrev struct {
	found    bool
	valid    *bool
	failures int
	next     time.Time
	hash     string
}

// ValidateKeys checks the key of every selected channel with one
// authenticated model-list call and merges the verdicts into the
// key-validation cache (see the package documentation).
func ValidateKeys(ctx context.Context, opts KeyOptions) (*KeyReport, error) {
	start := time.Now()
	o, err := normalize(Options{ConfigDir: opts.ConfigDir, CacheDir: opts.CacheDir, Channels: opts.Channels,
		Concurrency: opts.Concurrency, Timeout: opts.Timeout, Client: opts.Client, Now: opts.Now, LookupEnv: opts.LookupEnv})
	if err != nil {
		return nil, err
	}
	o.keyCheck = true
	cfg, _, err := config.Load(o.ConfigDir, config.Options{}, nil)
	if err != nil {
		return nil, fmt.Errorf("validate keys: %w", err)
	}
	chans, err := selectChannels(cfg, o.Channels)
	if err != nil {
		return nil, err
	}
	path, old, top, err := readKeyCache(o.CacheDir)
	if err != nil {
		return nil, err
	}
	results := splitSection(top, "validation_results")
	status := splitSection(top, "key_status")
	now := o.Now()
	rep := &KeyReport{Path: path, Channels: make([]KeyResult, len(chans))}
	var jobs []*keyJob
	for i, ch := range chans {
		r := &rep.Channels[i]
		r.ID = ch.ID
		kj := &keyJob{job: job{ch: ch, prov: cfg.Provider(ch.Provider), bases: cfg.BaseURLs(ch), res: &ChannelResult{ID: ch.ID}}, kres: r}
		if why := usable(cfg, ch, o.LookupEnv, &kj.key); why != "" || kj.key == "" {
			if why == "" {
				why = "no key to check (a local channel)"
			}
			r.Status, r.Error = StatusSkipped, why
			continue
		}
		kj.prev = previous(find(results, ch.ID), find(status, ch.ID))
		if !opts.Force && kj.prev.found && kj.prev.hash == keyHash(kj.key) && now.Before(kj.prev.next) {
			r.Status, r.Error = StatusSkipped, "checked recently; next check after "+kj.prev.next.UTC().Format(time.RFC3339)
			continue
		}
		jobs = append(jobs, kj)
	}
	var mu sync.Mutex
	done := len(chans) - len(jobs)
	forEach(o.Concurrency, len(jobs), func(i int) {
		kj := jobs[i]
		t := time.Now()
		_, kj.err = fetchChannel(ctx, o, &kj.job)
		kj.checked = true
		kj.verdict(o.Now(), time.Since(t))
		mu.Lock()
		defer mu.Unlock()
		done++
		if opts.Progress != nil {
			opts.Progress(KeyEvent{Done: done, Total: len(chans), Channel: *kj.kres})
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("validate keys: stopped (%w); the cache was not changed", err)
	}
	data := writeKeyCache(top, results, status, jobs, now)
	if !bytes.Equal(data, old) {
		if err := compiler.WriteFileAtomic(path, data); err != nil {
			return rep, fmt.Errorf("validate keys: %w", err)
		}
		rep.Changed = true
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// verdict fills the result from the call's outcome.
func (kj *keyJob) verdict(now time.Time, latency time.Duration) {
	r := kj.kres
	r.Latency = latency
	failures := kj.prev.failures
	if kj.prev.hash != keyHash(kj.key) {
		failures = 0 // another key: its history does not count
	}
	if kj.err == nil {
		r.Status, r.Valid, r.StatusCode = StatusOK, true, 200
		failures = 0
	} else {
		r.Status, r.ErrorType, r.StatusCode, r.Error = StatusError, kj.err.Kind, kj.err.Status, kj.err.Msg
		switch kj.err.Kind {
		case KindInvalidKey, KindQuotaExceeded:
			r.Valid = false
		default:
			r.Valid = kj.prev.valid == nil || *kj.prev.valid || kj.prev.hash != keyHash(kj.key)
		}
		failures++
	}
	r.ConsecutiveFailures = failures
	r.NextValidation = now.Add(Backoff(failures))
}

// healthScore seeds the channel's health: 1 for a good key, 0 for a refused
// one, 0.1 for an exhausted quota, 0.5 when the check itself failed.
func healthScore(r *KeyResult) float64 {
	switch {
	case r.ErrorType == "":
		return 1
	case r.ErrorType == KindInvalidKey:
		return 0
	case r.ErrorType == KindQuotaExceeded:
		return 0.1
	}
	return 0.5
}

// readKeyCache reads the key-validation cache of dir.
func readKeyCache(dir string) (string, []byte, []member, error) {
	p, err := cache.FindKeyValidation(dir, nil)
	if err != nil {
		return "", nil, nil, fmt.Errorf("validate keys: %w", err)
	}
	if p == "" {
		return filepath.Join(dir, cache.KeyValidationFile), nil, nil, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil, nil, nil
		}
		return "", nil, nil, fmt.Errorf("validate keys: read %s: %w", p, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return p, b, nil, nil
	}
	ms, err := splitObject(b)
	if err != nil {
		return "", nil, nil, fmt.Errorf("validate keys: %s is not a usable key-validation cache (%v); move it away to start a new one", p, err)
	}
	return p, b, ms, nil
}

// splitSection returns the members of the object top[name] (nil when
// absent or not an object).
func splitSection(top []member, name string) []member {
	raw := find(top, name)
	if raw == nil {
		return nil
	}
	ms, _ := splitObject(raw)
	return ms
}

// previous reads the old verdict of a channel.
func previous(result, status []byte) keyPrev {
	var p keyPrev
	var r struct {
		IsValid *bool  `json:"is_valid"`
		Hash    string `json:"api_key_hash"`
	}
	var s struct {
		IsValid  *bool   `json:"is_valid"`
		Failures float64 `json:"consecutive_failures"`
		Next     any     `json:"next_validation"`
		Hash     string  `json:"api_key_hash"`
	}
	if result != nil && json.Unmarshal(result, &r) == nil {
		p.found, p.valid, p.hash = true, r.IsValid, r.Hash
	}
	if status != nil && json.Unmarshal(status, &s) == nil {
		p.found = true
		if p.valid == nil {
			p.valid = s.IsValid
		}
		if p.hash == "" {
			p.hash = s.Hash
		}
		if s.Failures > 0 && s.Failures < 1e6 {
			p.failures = int(s.Failures)
		}
		switch v := s.Next.(type) {
		case string:
			for _, l := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999"} {
				if t, err := time.Parse(l, v); err == nil {
					p.next = t
					break
				}
			}
		case float64:
			p.next = time.Unix(int64(v), 0)
		}
	}
	return p
}

// writeKeyCache writes the whole key-validation cache: the old members in
// their order, the checked channels' entries replaced or added, every
// plaintext api_key dropped, last_update set when something was checked.
func writeKeyCache(top, results, status []member, jobs []*keyJob, now time.Time) []byte {
	stamp := now.UTC().Format("2006-01-02T15:04:05.000000")
	byID := map[string]*keyJob{}
	for _, kj := range jobs {
		if kj.checked {
			byID[kj.ch.ID] = kj
		}
	}
	section := func(old []member, build func(kj *keyJob, old []member) []byte) []byte {
		o := newObject("  ")
		seen := map[string]bool{}
		for _, m := range old {
			if kj, ok := byID[m.Name]; ok {
				prev, _ := splitObject(m.Raw)
				o.raw(m.Name, build(kj, prev))
				seen[m.Name] = true
				continue
			}
			o.raw(m.Name, dropKey(m.Raw))
		}
		for _, kj := range jobs {
			if kj.checked && !seen[kj.ch.ID] {
				o.raw(kj.ch.ID, build(kj, nil))
			}
		}
		return o.bytes()
	}
	res := section(results, func(kj *keyJob, _ []member) []byte {
		r := kj.kres
		o := newObject("    ")
		o.value("channel_id", kj.ch.ID)
		o.value("provider", kj.ch.Provider)
		o.value("is_valid", r.Valid)
		if r.ErrorType == "" {
			o.value("error_type", nil)
			o.value("error_message", nil)
		} else {
			o.value("error_type", r.ErrorType)
			o.value("error_message", r.Error)
		}
		o.value("status_code", r.StatusCode)
		o.value("latency_ms", float64(r.Latency.Microseconds())/1000)
		o.value("timestamp", stamp)
		o.value("api_key_hash", keyHash(kj.key))
		return o.bytes()
	})
	st := section(status, func(kj *keyJob, prev []member) []byte {
		r := kj.kres
		o := newObject("    ")
		o.value("channel_id", kj.ch.ID)
		o.value("provider", kj.ch.Provider)
		o.value("is_valid", r.Valid)
		o.value("consecutive_failures", r.ConsecutiveFailures)
		o.value("health_score", healthScore(r))
		o.value("last_validated", stamp)
		o.value("next_validation", r.NextValidation.UTC().Format("2006-01-02T15:04:05.000000"))
		o.value("api_key_hash", keyHash(kj.key))
		for _, m := range prev {
			if !slices.Contains([]string{"channel_id", "provider", "is_valid", "consecutive_failures", "health_score",
				"last_validated", "next_validation", "api_key_hash", "api_key"}, m.Name) {
				o.raw(m.Name, m.Raw)
			}
		}
		return o.bytes()
	})
	out := newObject("")
	wrote := map[string]bool{}
	for _, m := range top {
		switch m.Name {
		case "validation_results":
			out.raw(m.Name, res)
		case "key_status":
			out.raw(m.Name, st)
		case "last_update":
			if len(byID) > 0 {
				out.value(m.Name, stamp)
			} else {
				out.raw(m.Name, m.Raw)
			}
		default:
			out.raw(m.Name, m.Raw)
		}
		wrote[m.Name] = true
	}
	if !wrote["validation_results"] {
		out.raw("validation_results", res)
	}
	if !wrote["key_status"] {
		out.raw("key_status", st)
	}
	if !wrote["last_update"] {
		out.value("last_update", stamp)
	}
	return append(out.bytes(), '\n')
}

// dropKey returns an entry without its plaintext api_key member (as it was
// when it has none).
func dropKey(raw []byte) []byte {
	ms, err := splitObject(raw)
	if err != nil || find(ms, "api_key") == nil {
		return raw
	}
	o := newObject("    ")
	for _, m := range ms {
		if m.Name != "api_key" {
			o.raw(m.Name, m.Raw)
		}
	}
	return o.bytes()
}
