package vocab

import "strings"

// IsPostgresURL reports whether usage.path names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file: the compiler
// checks such a value as a URL, and routerd opens the PostgreSQL ledger.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
