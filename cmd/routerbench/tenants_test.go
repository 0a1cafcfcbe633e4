package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestWithTenants(t *testing.T) {
	got, err := withTenants([]byte("channels: []\n"), "tok", `a/b:free "x"`, "/tmp/x y/usage.db")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ClientKeys []struct {
			Name   string             `yaml:"name"`
			Key    string             `yaml:"key"`
			Models []string           `yaml:"models"`
			Budget map[string]float64 `yaml:"budget"`
			Limits map[string]float64 `yaml:"limits"`
		} `yaml:"client_keys"`
		Usage struct {
			Enabled bool   `yaml:"enabled"`
			Path    string `yaml:"path"`
		} `yaml:"usage"`
	}
	if err := yaml.Unmarshal(got, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	sum := sha256.Sum256([]byte("tok"))
	if len(cfg.ClientKeys) != 1 || cfg.ClientKeys[0].Key != "sha256:"+hex.EncodeToString(sum[:]) ||
		len(cfg.ClientKeys[0].Models) != 1 || cfg.ClientKeys[0].Models[0] != `a/b:free "x"` {
		t.Errorf("client_keys %+v\n%s", cfg.ClientKeys, got)
	}
	if strings.Contains(string(got), "tok\n") {
		t.Error("the token itself is in the config")
	}
	if k := cfg.ClientKeys[0]; k.Budget["daily_usd"] < 1e6 || k.Limits["requests_per_minute"] < 1e6 || k.Limits["concurrent"] < 1e4 {
		t.Errorf("limits too low for the load: %+v", k)
	}
	if !cfg.Usage.Enabled || cfg.Usage.Path != "/tmp/x y/usage.db" {
		t.Errorf("usage %+v", cfg.Usage)
	}
	keyOnly, err := withTenants([]byte("channels: []\n"), "tok", "m", "")
	if err != nil || !strings.HasSuffix(string(keyOnly), "usage:\n  enabled: false\n") || !strings.Contains(string(keyOnly), "client_keys:") {
		t.Errorf("key only = %q, %v", keyOnly, err)
	}
	off, err := withoutTenants([]byte("channels: []\n"))
	if err != nil || !strings.HasSuffix(string(off), "usage:\n  enabled: false\n") {
		t.Errorf("withoutTenants = %q, %v", off, err)
	}
	for _, cfg := range []string{"usage:\n  enabled: true\n", "client_keys: []\n"} {
		if _, err := withTenants([]byte(cfg), "t", "m", "/x"); err == nil {
			t.Errorf("a config with %q was accepted", cfg)
		}
		if _, err := withoutTenants([]byte(cfg)); err == nil {
			t.Errorf("withoutTenants accepted %q", cfg)
		}
	}
}

func TestTenantsRows(t *testing.T) {
	res := &results{}
	rows := tenantsRows(res)
	if len(rows) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.Verdict != notMeasured {
			t.Errorf("unmeasured row %+v", r)
		}
	}
	line := func(name string, m map[string]float64) benchLine {
		return benchLine{Name: name, Procs: 2, N: 1, Metrics: m}
	}
	res.Tenants = tenantsResult{
		Off:     loadResult{Requests: 1000, CPUPerReq: 200 * time.Microsecond},
		On:      loadResult{Requests: 1000, CPUPerReq: 210 * time.Microsecond},
		KeyOnly: loadResult{Requests: 1000, CPUPerReq: 202 * time.Microsecond},
		Ratios:  []float64{1.02, 1.08}, Rounds: 2, Written: 1000, LedgerSecs: 1,
		Bench: goBenchResult{Lines: []benchLine{
			line("KeyLimitsAndEnqueue", map[string]float64{"ns/op": 1500, "allocs/op": 1}),
			line("LedgerThroughput", map[string]float64{"ns/op": 30000, "records/s": 30000}),
		}},
	}
	rows = tenantsRows(res)
	if rows[0].Verdict != "met" || !strings.Contains(rows[0].Measured, "1.05×") || !strings.Contains(rows[0].Measured, "ledger off: 1.01×") {
		t.Errorf("cpu row %+v", rows[0])
	}
	if rows[1].Verdict != "met" || rows[2].Verdict != "met" {
		t.Errorf("bench rows %+v", rows[1:])
	}
	res.Tenants.On.CPUPerReq = 250 * time.Microsecond
	res.Tenants.Guard = "FAIL: 1 allocation"
	res.Tenants.Bench.Lines[1].Metrics["records/s"] = 4000
	rows = tenantsRows(res)
	for i, r := range rows {
		if !strings.Contains(r.Verdict, "missed") {
			t.Errorf("row %d not missed: %+v", i, r)
		}
	}
	// make bench's report has the rows and the section.
	doc := renderReport(res)
	for _, want := range []string{"### Client keys, limits and the usage ledger on and off", "| client key + limits + ledger |", "| client key + limits, ledger off |", "router CPU per proxied request with a client key"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
