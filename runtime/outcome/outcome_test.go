package outcome

import (
	"testing"
	"time"
)

func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for k := OK; k <= Other; k++ {
		n := k.String()
		if n == "" || seen[n] {
			t.Errorf("kind %d has name %q (empty or repeated)", k, n)
		}
		seen[n] = true
	}
	if Kind(200).String() != "kind(200)" {
		t.Errorf("unknown kind name = %q", Kind(200).String())
	}
	if !Auth.ChannelWide() || Quota.ChannelWide() {
		t.Error("only Auth cools the whole channel")
	}
}

// The cooldown table, stated once more in plain numbers.
func TestOf(t *testing.T) {
	s := time.Second
	tests := map[Kind]Outcome{
		OK:         {Kind: OK},
		BadRequest: {Kind: BadRequest},
		Auth:       {Kind: Auth, Failover: true},
		Quota:      {Kind: Quota, Cooldown: 1800 * s, Failover: true},
		RateLimit:  {Kind: RateLimit, Cooldown: 10 * s, Failover: true},
		NotFound:   {Kind: NotFound, Cooldown: 300 * s, Failover: true},
		Server:     {Kind: Server, Cooldown: 60 * s, Failover: true},
		Timeout:    {Kind: Timeout, Cooldown: 30 * s, Failover: true},
		Connection: {Kind: Connection, Cooldown: 30 * s, Failover: true},
		Canceled:   {Kind: Canceled},
		Other:      {Kind: Other, Cooldown: 60 * s, Failover: true},
	}
	for k, want := range tests {
		if got := Of(k); got != want {
			t.Errorf("Of(%v) = %+v, want %+v", k, got, want)
		}
	}
}

func TestCooldownKind(t *testing.T) {
	tests := map[Kind]Kind{
		Auth: Auth, Quota: Quota, RateLimit: RateLimit, NotFound: NotFound, Server: Server,
		Timeout: Timeout, Connection: Timeout, Other: Server,
	}
	for k, want := range tests {
		if got := k.CooldownKind(); got != want {
			t.Errorf("%v.CooldownKind() = %v, want %v", k, got, want)
		}
	}
}

func TestKeyError(t *testing.T) {
	tests := map[string]Outcome{
		"invalid_key":    {Kind: Auth, Failover: true},
		"quota_exceeded": {Kind: Quota, Cooldown: 1800 * time.Second, Failover: true},
		"rate_limit":     {Kind: RateLimit, Cooldown: 10 * time.Second, Failover: true},
		"server_error":   {Kind: Server, Cooldown: 60 * time.Second, Failover: true},
		"network_error":  {Kind: Server, Cooldown: 60 * time.Second, Failover: true},
		"unknown":        {Kind: Server, Cooldown: 60 * time.Second, Failover: true},
	}
	for in, want := range tests {
		if got := KeyError(in); got != want {
			t.Errorf("KeyError(%q) = %+v, want %+v", in, got, want)
		}
	}
}
