package vocab

import "testing"

func TestIsPostgresURL(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://h/db": true, "postgresql://u@h:5432/db?sslmode=disable": true,
		"usage.db": false, "/var/lib/usage.db": false, "Postgres://h/db": false, "postgres:/h": false, "": false,
	} {
		if got := IsPostgresURL(s); got != want {
			t.Errorf("IsPostgresURL(%q) = %v", s, got)
		}
	}
}
