package fleet

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"smartrouter/runtime/internal/pgtest"
)

// pgPassword is in the URL of the fleet's ledger; no replica may print it.
const pgPassword = "ledger-pg-s3cret"

// Harness test 5: three replicas write their usage into one PostgreSQL
// ledger; GET /v1/admin/usage and /v1/admin/requests on any replica answer
// for the requests served by all three.
func TestFleetUsageFromAllReplicas(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(pgPassword)
	t.Setenv("FLEET_USAGE_DB", dbURL) // inherited by the replicas
	f := startFleetWith(t, 3, discoveryOff, "usage:\n  path: \"${FLEET_USAGE_DB}\"\n  retention_days: 30\n")
	const perReplica = 12
	for i := range perReplica * len(f.nodes) {
		p := f.nodes[i%len(f.nodes)]
		if code, body := f.chat(p); code != http.StatusOK {
			t.Fatalf("request %d to replica %d: %d %s", i, i%len(f.nodes), code, body)
		}
	}
	total := perReplica * len(f.nodes)
	for i, p := range f.nodes {
		var u struct {
			Rows []struct {
				Channel  string `json:"channel"`
				Requests int    `json:"requests"`
			} `json:"rows"`
			Totals struct {
				Requests int `json:"requests"`
			} `json:"totals"`
		}
		took := f.eventually(fmt.Sprintf("replica %d reports the fleet's %d requests", i, total), func() bool {
			return getJSON(f, p.url+"/v1/admin/usage?group_by=channel", &u) && u.Totals.Requests == total
		})
		t.Logf("replica %d: usage of all %d requests after %v: %+v", i, total, took, u.Rows)
		var r struct {
			Data []struct {
				RequestID string `json:"request_id"`
				Status    int    `json:"status"`
			} `json:"data"`
		}
		if !getJSON(f, p.url+"/v1/admin/requests?limit=1000", &r) {
			t.Fatalf("replica %d: GET /v1/admin/requests failed", i)
		}
		ids := map[string]bool{}
		for _, x := range r.Data {
			ids[x.RequestID] = true
		}
		if len(r.Data) != total || len(ids) != total {
			t.Errorf("replica %d lists %d requests (%d distinct ids), want %d", i, len(r.Data), len(ids), total)
		}
	}
	// Each replica wrote its share under its own replica id.
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT replica, COUNT(*) FROM requests GROUP BY replica`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var shares []int
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		shares = append(shares, n)
	}
	if len(shares) != len(f.nodes) || shares[0] != perReplica || shares[1] != perReplica || shares[2] != perReplica {
		t.Errorf("records per replica id %v, want %d each from %d replicas", shares, perReplica, len(f.nodes))
	}

	// PostgreSQL down: the replicas serve every request, their records go
	// to their spill files, the usage API says it cannot answer (503), and
	// once the database is back the spilled records arrive (retried every
	// 10 s).
	pg.Stop()
	for i := range 3 * len(f.nodes) {
		p := f.nodes[i%len(f.nodes)]
		if code, body := f.chat(p); code != http.StatusOK {
			t.Fatalf("request %d with PostgreSQL down, to replica %d: %d %s", i, i%len(f.nodes), code, body)
		}
	}
	resp, err := f.client.Get(f.nodes[0].url + "/v1/admin/usage")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), pgPassword) {
		t.Errorf("usage with PostgreSQL down: %d %s; want 503 without the password", resp.StatusCode, body)
	}
	pg.Restart()
	total += 3 * len(f.nodes)
	for i, p := range f.nodes {
		var u struct {
			Totals struct {
				Requests int `json:"requests"`
			} `json:"totals"`
		}
		took := f.eventually(fmt.Sprintf("replica %d reports %d requests after the outage", i, total), func() bool {
			return getJSON(f, p.url+"/v1/admin/usage", &u) && u.Totals.Requests == total
		})
		t.Logf("replica %d: all %d requests reported %v after PostgreSQL came back", i, total, took)
		if n := spilledDBError(f.metrics(p)); n != 3 {
			t.Errorf("replica %d: %d records spilled on a database error, want 3 (its requests during the outage)", i, n)
		}
	}

	for i, p := range f.nodes {
		if !strings.Contains(p.logText(), `"backend":"postgres"`) {
			t.Errorf("replica %d did not log a PostgreSQL ledger:\n%s", i, p.logText())
		}
		if strings.Contains(p.logText(), pgPassword) {
			t.Errorf("replica %d printed the PostgreSQL password in its log", i)
		}
	}
}

// getJSON decodes the JSON answer of GET url; false when it fails.
func getJSON(f *fleet, url string, v any) bool {
	resp, err := f.client.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}

// spilledDBError reads smartrouter_usage_records_spilled_total{reason="db_error"}
// from a /metrics text (-1 when absent).
func spilledDBError(metrics string) int {
	for _, line := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, `smartrouter_usage_records_spilled_total{reason="db_error"} `); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
