package mockllm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Fault is what a matching Rule does to a request.
type Fault string

// Faults.
const (
	FaultError Fault = "error" // answer Status with an OpenAI-style error body (the default when Status is set)
	FaultHang  Fault = "hang"  // never answer; hold the connection until the client gives up
	FaultDrop  Fault = "drop"  // send AfterChunks content chunks, then cut the connection
	FaultSlow  Fault = "slow"  // answer normally after Delay
)

// Rule makes requests for a model and/or with an API key fail. Empty Model or
// Key match anything; the first matching rule of the list wins.
type Rule struct {
	Model string // requested model id, exact
	Key   string // API key from Authorization: Bearer, x-api-key or api-key, exact
	Fault Fault  // FaultError when empty and Status is set

	Status     int    // FaultError: HTTP status (400-599)
	Message    string // FaultError: error.message (a typical one per status when empty)
	Type       string // FaultError: error.type
	Code       string // FaultError: error.code
	RetryAfter string // FaultError: Retry-After header value, sent as is when not empty

	AfterChunks int           // FaultDrop: content chunks sent before the cut (0: right after the role chunk)
	Delay       time.Duration // wait before the first byte (FaultSlow; also delays the other faults)
	Times       int           // apply to the first Times matching requests only; 0 = always
}

// jsonRule is the file form of a Rule: delay is a Go duration string.
type jsonRule struct {
	Model       string `json:"model"`
	Key         string `json:"key"`
	Fault       Fault  `json:"fault"`
	Status      int    `json:"status"`
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        string `json:"code"`
	RetryAfter  any    `json:"retry_after"`
	AfterChunks int    `json:"after_chunks"`
	Delay       string `json:"delay"`
	Times       int    `json:"times"`
}

// ParseRules reads a JSON list of rules:
//
//	[{"model": "gpt-4o", "status": 429, "retry_after": 3},
//	 {"key": "sk-bad", "status": 401},
//	 {"model": "m", "fault": "drop", "after_chunks": 2},
//	 {"model": "m2", "fault": "slow", "delay": "1500ms", "times": 1}]
//
// Unknown members are errors, so that a typo does not silently disable a rule.
func ParseRules(data []byte) ([]Rule, error) {
	var in []jsonRule
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("mock rules: %w; write a JSON list of rule objects", err)
	}
	out := make([]Rule, 0, len(in))
	for i, j := range in {
		r := Rule{Model: j.Model, Key: j.Key, Fault: j.Fault, Status: j.Status, Message: j.Message,
			Type: j.Type, Code: j.Code, AfterChunks: j.AfterChunks, Times: j.Times}
		switch v := j.RetryAfter.(type) {
		case nil:
		case string:
			r.RetryAfter = v
		case float64:
			r.RetryAfter = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return nil, fmt.Errorf("mock rule %d: retry_after must be a number of seconds or a string", i)
		}
		if j.Delay != "" {
			d, err := time.ParseDuration(j.Delay)
			if err != nil {
				return nil, fmt.Errorf("mock rule %d: delay: %w; write it like \"1.5s\" or \"200ms\"", i, err)
			}
			r.Delay = d
		}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("mock rule %d: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// LoadRules reads a rules file (see ParseRules).
func LoadRules(path string) ([]Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mock rules: %w", err)
	}
	rules, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}

func (r *Rule) fault() Fault {
	if r.Fault == "" && r.Status != 0 {
		return FaultError
	}
	return r.Fault
}

func (r *Rule) validate() error {
	switch r.fault() {
	case FaultError:
		if r.Status < 400 || r.Status > 599 {
			return fmt.Errorf("status %d: an error rule needs a status from 400 to 599", r.Status)
		}
	case FaultHang, FaultDrop, FaultSlow:
	case "":
		return fmt.Errorf("no fault and no status; set fault to error, hang, drop or slow")
	default:
		return fmt.Errorf("fault %q: use error, hang, drop or slow", r.Fault)
	}
	if r.AfterChunks < 0 || r.Times < 0 || r.Delay < 0 {
		return fmt.Errorf("after_chunks, times and delay must not be negative")
	}
	return nil
}

// ruleSet is an immutable rule list with its use counters (for Times).
type ruleSet struct {
	rules []Rule
	used  []atomic.Int64
}

func newRuleSet(rules []Rule) *ruleSet {
	return &ruleSet{rules: append([]Rule(nil), rules...), used: make([]atomic.Int64, len(rules))}
}

// match returns the first rule for (model, key) that is not used up.
// forModels restricts it to rules without a model (the /models endpoint).
func (rs *ruleSet) match(model, key string, forModels bool) (*Rule, bool) {
	for i := range rs.rules {
		r := &rs.rules[i]
		if r.Model != "" && (forModels || r.Model != model) || r.Key != "" && r.Key != key {
			continue
		}
		if r.Times > 0 && rs.used[i].Add(1) > int64(r.Times) {
			continue
		}
		return r, true
	}
	return nil, false
}

// maxSlowMs caps "fail-slow-N" at a day, far beyond any client timeout.
const maxSlowMs = 24 * 3600 * 1000

// DefaultRetryAfter is the Retry-After of "fail-429" without a number.
const DefaultRetryAfter = "5"

// conventionRule reads a failure asked for in a model id or key:
// fail-<status>[-<variant or number>], fail-hang, fail-drop[-N], fail-slow[-MS].
// See README.md for the list.
func conventionRule(s string, chunks int, slow time.Duration) (Rule, bool) {
	i := strings.Index(s, "fail-")
	if i < 0 {
		return Rule{}, false
	}
	tail := s[i+len("fail-"):]
	end := 0
	for end < len(tail) && (tail[end] >= 'a' && tail[end] <= 'z' || tail[end] >= '0' && tail[end] <= '9' || tail[end] == '-') {
		end++
	}
	tail = tail[:end]
	what, arg, _ := strings.Cut(tail, "-")
	num, numErr := strconv.Atoi(arg)
	hasNum := numErr == nil && num >= 0
	switch what {
	case "hang":
		return Rule{Fault: FaultHang}, true
	case "drop":
		r := Rule{Fault: FaultDrop, AfterChunks: max(chunks/2, 1)}
		if hasNum {
			r.AfterChunks = num
		}
		return r, true
	case "slow":
		r := Rule{Fault: FaultSlow, Delay: slow}
		if hasNum {
			r.Delay = time.Duration(min(num, maxSlowMs)) * time.Millisecond
		}
		return r, true
	}
	status, err := strconv.Atoi(what)
	if err != nil || status < 400 || status > 599 {
		return Rule{}, false
	}
	r := Rule{Fault: FaultError, Status: status}
	switch {
	case status == 429 && arg == "quota":
		r.Message = "You exceeded your current quota, please check your plan and billing details."
		r.Type, r.Code = "insufficient_quota", "insufficient_quota"
	case status == 429 && arg == "text":
		r.Message = "Rate limit reached for requests. Please retry after 20 seconds."
	case status == 429 && hasNum:
		r.RetryAfter = strconv.Itoa(num)
	case status == 429:
		r.RetryAfter = DefaultRetryAfter
	case (status == 401 || status == 403) && arg == "ratelimit":
		r.Message = "Rate limit exceeded for this key; slow down."
		r.Type, r.Code = "rate_limit_error", "rate_limit_exceeded"
	}
	return r, true
}

// errorDefaults gives a typical OpenAI-style message, type and code.
func errorDefaults(status int) (msg, typ, code string) {
	switch status {
	case 400:
		return "Invalid request (mock failure).", "invalid_request_error", "invalid_request"
	case 401:
		return "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
	case 402:
		return "Insufficient account balance.", "insufficient_quota", "insufficient_balance"
	case 403:
		return "This key may not use this model.", "permission_error", "forbidden"
	case 404:
		return "The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"
	case 413:
		return "Request too large.", "invalid_request_error", "request_too_large"
	case 422:
		return "Unprocessable request.", "invalid_request_error", "unprocessable"
	case 429:
		return "Too many requests, slow down.", "rate_limit_error", "rate_limit_exceeded"
	}
	if status >= 500 {
		return "The server had an error while processing your request (mock failure).", "server_error", "server_error"
	}
	return "Mock failure.", "invalid_request_error", "mock_failure"
}
