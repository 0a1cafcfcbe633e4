package usage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver "pgx"
)

// The PostgreSQL backend: Options.Path is a postgres:// or postgresql://
// URL. The records, the queries and the API are those of the SQLite
// ledger; what differs lives here: the column types, the migrations'
// lock (several replicas may start at once), a multi-row INSERT per
// transaction, and the replica id that keeps the records of several
// routerd apart (UNIQUE (replica, uid)) and gives each its own journal
// checkpoint. The journal and the spill file stay local files, at
// Options.LocalPath + ".ackjournal" / ".spill".

// pgSchema is schema for PostgreSQL: migration i+1 is pgSchema[i] and does
// what schema[i] does for SQLite. Never change a released entry; append a
// new one to both lists.
var pgSchema = [][]string{
	{
		`CREATE TABLE requests (
			id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			replica         TEXT             NOT NULL,
			uid             BIGINT           NOT NULL,
			ts              BIGINT           NOT NULL,
			request_id      TEXT             NOT NULL,
			key             TEXT             NOT NULL,
			surface         TEXT             NOT NULL,
			model_requested TEXT             NOT NULL,
			channel         TEXT             NOT NULL,
			model_used      TEXT             NOT NULL,
			attempts        INTEGER          NOT NULL,
			status          INTEGER          NOT NULL,
			error_code      TEXT             NOT NULL,
			input_tokens    BIGINT           NOT NULL,
			output_tokens   BIGINT           NOT NULL,
			cost_usd        DOUBLE PRECISION NOT NULL,
			upstream_ms     DOUBLE PRECISION NOT NULL,
			overhead_ms     DOUBLE PRECISION NOT NULL,
			stream          BOOLEAN          NOT NULL,
			UNIQUE (replica, uid)
		)`,
		`CREATE INDEX requests_ts ON requests (ts)`,
		`CREATE INDEX requests_key_ts ON requests (key, ts)`,
		`CREATE INDEX requests_channel_ts ON requests (channel, ts)`,
		`CREATE INDEX requests_model_ts ON requests (model_used, ts)`,
		`CREATE TABLE ledger_state (name TEXT PRIMARY KEY, value BIGINT NOT NULL)`,
	},
}

// pgMigrateLock is the advisory lock that lets one replica at a time
// migrate the schema.
const pgMigrateLock = 0x5573616765 // "Usage"

// pgConnectWait bounds the first connection at open.
const pgConnectWait = 15 * time.Second

// openPG connects to the database of opts.Path. Its errors never show the
// URL (it may carry a password).
func openPG(opts Options) (*sql.DB, error) {
	db, err := sql.Open("pgx", opts.Path)
	if err != nil {
		return nil, errors.New("usage ledger: the PostgreSQL URL in usage.path is not valid; write postgres://user:password@host:port/database")
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), pgConnectWait)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("usage ledger: cannot reach the PostgreSQL database of usage.path (%w); check that the server runs and the URL's host, port, user, password and database", err)
	}
	return db, nil
}

// replicaID returns opts.Replica, else the id kept in path (created with
// a random value the first time), so that a replica keeps its id across
// restarts and its replays stay idempotent.
func replicaID(opts Options, path string) (string, error) {
	if opts.Replica != "" {
		return opts.Replica, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" && len(id) <= 64 {
			return id, nil
		}
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("usage ledger: read the replica id: %w", err)
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("usage ledger: write the replica id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("usage ledger: write the replica id: %w", err)
	}
	return id, nil
}

// migratePG brings the schema to len(pgSchema) under an advisory lock,
// one transaction per migration, recorded in schema_migrations.
func (l *Ledger) migratePG() error {
	ctx := context.Background()
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("usage ledger: connect to PostgreSQL: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, pgMigrateLock); err != nil {
		return fmt.Errorf("usage ledger: lock the schema for its migration: %w", err)
	}
	defer conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, pgMigrateLock) //nolint:errcheck // the session ends with the connection anyway
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("usage ledger: create schema_migrations (%w); grant the user of usage.path the right to create tables in its database", err)
	}
	var cur int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("usage ledger: read the schema version: %w", err)
	}
	if cur > len(pgSchema) {
		return fmt.Errorf("usage ledger: the PostgreSQL database has schema version %d, newer than this routerd knows (%d); run the newer routerd", cur, len(pgSchema))
	}
	for v := cur + 1; v <= len(pgSchema); v++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
		}
		for _, stmt := range pgSchema[v-1] {
			if _, err := tx.Exec(stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
			}
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, time.Now().Unix()); err != nil {
			tx.Rollback()
			return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
		}
	}
	return nil
}

// pgColumns is the number of values of one row of pgInsertHead.
const pgColumns = 18

const pgInsertHead = `INSERT INTO requests (replica, uid, ts, request_id, key, surface, model_requested, channel, model_used,
	attempts, status, error_code, input_tokens, output_tokens, cost_usd, upstream_ms, overhead_ms, stream) VALUES `

// pgRowsPerInsert bounds one INSERT's rows (PostgreSQL takes at most
// 65535 parameters per statement).
const pgRowsPerInsert = 1000

// insertPG writes entries in one transaction of multi-row INSERTs, with
// the replica's journal checkpoint when ckpt > 0. It returns how many rows
// were new.
func (l *Ledger) insertPG(entries []Entry, ckpt uint64) (int64, error) {
	tx, err := l.db.Begin()
	if err != nil {
		return 0, err
	}
	var n int64
	var sb strings.Builder
	args := make([]any, 0, min(len(entries), pgRowsPerInsert)*pgColumns)
	for start := 0; start < len(entries); start += pgRowsPerInsert {
		part := entries[start:min(len(entries), start+pgRowsPerInsert)]
		sb.Reset()
		sb.WriteString(pgInsertHead)
		args = args[:0]
		for i := range part {
			e := &part[i]
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('(')
			for c := range pgColumns {
				if c > 0 {
					sb.WriteByte(',')
				}
				sb.WriteByte('$')
				sb.WriteString(strconv.Itoa(i*pgColumns + c + 1))
			}
			sb.WriteByte(')')
			args = append(args, l.replica, e.uid, e.Time, e.Str(FieldRequestID), e.Str(FieldKey), e.Str(FieldSurface),
				e.Str(FieldModelRequested), e.Str(FieldChannel), e.Str(FieldModelUsed), e.Attempts, e.Status,
				e.Str(FieldErrorCode), e.InputTokens, e.OutputTokens, e.CostUSD, e.UpstreamMs, e.OverheadMs, e.Stream)
		}
		sb.WriteString(` ON CONFLICT (replica, uid) DO NOTHING`)
		res, err := tx.Exec(sb.String(), args...)
		if err != nil {
			tx.Rollback()
			return 0, err
		}
		k, _ := res.RowsAffected()
		n += k
	}
	if ckpt > 0 {
		if _, err := tx.Exec(`INSERT INTO ledger_state (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, l.ckptName(), int64(ckpt)); err != nil {
			tx.Rollback()
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// ckptName is the ledger_state row of this ledger's journal checkpoint:
// one per replica on PostgreSQL.
func (l *Ledger) ckptName() string {
	if l.pg {
		return "journal_checkpoint:" + l.replica
	}
	return "journal_checkpoint"
}

// rebind turns the ? placeholders of a statement into PostgreSQL's $n
// (the statements of this package hold no ? inside a string literal).
func (l *Ledger) rebind(q string) string {
	if !l.pg {
		return q
	}
	var sb strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(q[i])
	}
	return sb.String()
}

// Replica is the id this ledger writes its records under on PostgreSQL
// ("" on SQLite).
func (l *Ledger) Replica() string { return l.replica }

// Backend names the database: "sqlite" or "postgres".
func (l *Ledger) Backend() string {
	if l.pg {
		return "postgres"
	}
	return "sqlite"
}
