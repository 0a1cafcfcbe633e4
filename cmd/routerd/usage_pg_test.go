package main

import (
	"strings"
	"testing"

	"smartrouter/format"
)

// A postgres:// usage.path (or -usage-db) is used as written, never joined
// to the data folder; ${NAME} reads the variable, and an unset one is an
// error that names it without guessing a value.
func TestUsagePostgresPath(t *testing.T) {
	url := "postgres://router:pw@db:5432/usage?sslmode=disable"
	if p, _ := usageLedgerPath("", format.UsageSettings{Configured: true, Enabled: true, Path: url}, "/var/lib/sr/snap.bin", ""); p != url {
		t.Errorf("usage.path URL gave %q", p)
	}
	if p, _ := usageLedgerPath(url, format.UsageSettings{}, "/var/lib/sr/snap.bin", ""); p != url {
		t.Errorf("-usage-db URL gave %q", p)
	}
	t.Setenv("ROUTER_USAGE_DB_TEST", url)
	if p, err := expandUsagePath("${ROUTER_USAGE_DB_TEST}"); err != nil || p != url {
		t.Errorf("expand: %q, %v", p, err)
	}
	if p, err := expandUsagePath("/data/usage.db"); err != nil || p != "/data/usage.db" {
		t.Errorf("a file path changed: %q, %v", p, err)
	}
	_, err := expandUsagePath("${ROUTER_USAGE_DB_UNSET_X}")
	if err == nil || !strings.Contains(err.Error(), "ROUTER_USAGE_DB_UNSET_X is not set") {
		t.Errorf("unset variable: %v", err)
	}
	if p, err := usageLocalPath("/var/lib/sr/snap.bin", "/cache"); err != nil || p != "/var/lib/sr/usage-postgres" {
		t.Errorf("local path %q, %v", p, err)
	}
	if _, err := usageLocalPath("", ""); err == nil {
		t.Error("no data folder: no error")
	}
}
