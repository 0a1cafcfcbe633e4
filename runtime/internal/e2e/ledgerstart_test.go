package e2e

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
)

// routerd listens before its usage ledger is open (docs/operations.md
// "Usage ledger", start-up). These tests hold the ledger's database
// write-locked from the test, so that routerd's attach cannot finish until
// the test lets it (routerd waits for the lock up to the ledger's busy
// timeout, 5 s): no sleep, no timing.

// lockLedger takes the write lock of the SQLite file at path and returns
// the function that releases it.
func lockLedger(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		conn.Close()
		db.Close()
	}
	t.Cleanup(release)
	return release
}

// answerWhileOpening starts routerd on snap while its ledger database is
// locked, has it answer n chat requests, checks that its ledger is still
// opening, and returns it with the requests' ids.
func answerWhileOpening(t *testing.T, snap, run string, n int) (*proc, []string) {
	t.Helper()
	p := startRouterd(t, "-snapshot", snap)
	if p.url == "" {
		t.Fatalf("%s: routerd did not start:\n%s", run, p.logText())
	}
	var ids []string
	for range n {
		code, id, body := chatAs(t, p.url, "", chatMini)
		if code != 200 {
			t.Fatalf("%s: status %d: %s", run, code, body)
		}
		ids = append(ids, id)
	}
	if s := ledgerState(t, p); s != "opening" {
		t.Fatalf("%s: usage_ledger %q while the database is locked, want opening", run, s)
	}
	return p, ids
}

// waitLedgerState waits, up to 10 s, for the usage_ledger field of /health
// to read want, and returns what it read last: the ledger's requests can
// be answered from it a moment before the state changes (the held records
// are handed over first, the counts seeded next).
func waitLedgerState(t *testing.T, p *proc, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := ledgerState(t, p)
		if s == want || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ledgerState is the usage_ledger field of /health.
func ledgerState(t *testing.T, p *proc) string {
	t.Helper()
	s, _ := p.get("/health")["usage_ledger"].(string)
	return s
}

// chatAs sends a chat request with a bearer token and returns the status,
// the request id and the body.
func chatAs(t *testing.T, url, token, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Request-ID"), string(b)
}

const chatMini = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// Requests answered while the ledger is still being opened are in the
// ledger once it is open, and survive a kill of the process that answered
// them before its ledger ever opened.
func TestUsageRecordsAnsweredBeforeTheLedgerOpens(t *testing.T) {
	dir, snap := usageInstall(t)
	db := filepath.Join(dir, "usage.db")

	// Run 1 creates the ledger.
	p1 := startRouterd(t, "-snapshot", snap)
	if p1.url == "" {
		t.Fatalf("routerd did not start:\n%s", p1.logText())
	}
	if code, _, _ := chatAs(t, p1.url, "", chatMini); code != 200 {
		t.Fatalf("run 1: status %d", code)
	}
	p1.signal(syscall.SIGTERM)
	<-p1.done

	// Run 2: answers while the ledger waits for the lock; once the lock
	// is released the answers are in the ledger.
	release := lockLedger(t, db)
	p2, early := answerWhileOpening(t, snap, "run 2", 3)
	release()
	var rq requestsAnswer
	getJSON(t, p2.url+"/v1/admin/requests?limit=100", &rq)
	have := map[string]bool{}
	for _, r := range rq.Data {
		have[r.RequestID] = true
	}
	for _, id := range early {
		if !have[id] {
			t.Errorf("run 2: request %s answered before the ledger opened is not in /v1/admin/requests", id)
		}
	}
	if s := waitLedgerState(t, p2, "open"); s != "open" {
		t.Errorf("run 2: usage_ledger %q after the ledger opened, want open", s)
	}
	p2.signal(syscall.SIGTERM)
	<-p2.done

	// Run 3 is killed before its ledger ever opens; run 4 finds its
	// answers in the start journal.
	release = lockLedger(t, db)
	p3, killed := answerWhileOpening(t, snap, "run 3", 4)
	p3.signal(syscall.SIGKILL)
	<-p3.done
	release()

	p4 := startRouterd(t, "-snapshot", snap)
	if p4.url == "" {
		t.Fatalf("routerd did not restart:\n%s", p4.logText())
	}
	rq = requestsAnswer{}
	getJSON(t, p4.url+"/v1/admin/requests?limit=100", &rq)
	have = map[string]bool{}
	for _, r := range rq.Data {
		have[r.RequestID] = true
	}
	for _, id := range killed {
		if !have[id] {
			t.Errorf("run 4: request %s, answered by a routerd killed before its ledger opened, is not in the ledger", id)
		}
	}
	if len(rq.Data) != 1+3+4 {
		t.Errorf("run 4: %d records, want %d (none twice)", len(rq.Data), 1+3+4)
	}
	m := p4.waitLog("usage ledger open", 0)
	if m == nil || m["left_by_an_earlier_start"] != float64(4) {
		t.Errorf("run 4: the open line does not count the 4 records left by run 3: %v", m)
	}
}

// A client key with a daily budget cannot overrun it across a restart,
// even with a request sent while the restarted routerd is still opening
// its ledger: the request waits for the spend seeded from the ledger.
func TestBudgetHoldsWhileTheLedgerOpens(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	dir := t.TempDir()
	snap := filepath.Join(dir, "router.snap")
	const tok = "sk-e2e-capped"
	sp := usageSpec(mock.URL())
	// One answer costs more than the budget: the first request of the
	// day passes, every later one is refused.
	sp.ClientKeys = []format.ClientKey{{Name: "capped", KeyHash: sha256.Sum256([]byte(tok)), DailyUSD: 1e-9}}
	if err := sp.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "usage.db")

	p1 := startRouterd(t, "-snapshot", snap)
	if p1.url == "" {
		t.Fatalf("routerd did not start:\n%s", p1.logText())
	}
	if code, _, body := chatAs(t, p1.url, tok, chatMini); code != 200 {
		t.Fatalf("run 1, first request: status %d: %s", code, body)
	}
	if code, _, body := chatAs(t, p1.url, tok, chatMini); code != 429 || !strings.Contains(body, "insufficient_quota") {
		t.Fatalf("run 1, second request: status %d, want 429 insufficient_quota: %s", code, body)
	}
	p1.signal(syscall.SIGTERM)
	<-p1.done

	release := lockLedger(t, db)
	p2 := startRouterd(t, "-snapshot", snap)
	if p2.url == "" {
		t.Fatalf("routerd did not restart:\n%s", p2.logText())
	}
	type answer struct {
		code int
		body string
	}
	got := make(chan answer, 1)
	go func() {
		code, _, body := chatAs(t, p2.url, tok, chatMini)
		got <- answer{code, body}
	}()
	if s := ledgerState(t, p2); s != "opening" {
		t.Fatalf("usage_ledger %q while the database is locked, want opening", s)
	}
	select {
	case a := <-got:
		t.Fatalf("the request was answered (%d) before the ledger opened: %s", a.code, a.body)
	default:
	}
	release()
	a := <-got
	if a.code != 429 || !strings.Contains(a.body, "insufficient_quota") {
		t.Errorf("after the restart: status %d, want 429 insufficient_quota (the spend of run 1 counts): %s", a.code, a.body)
	}
}

// A ledger whose folder cannot be created stops the start before routerd
// listens. A database that cannot be opened once routerd listens does not
// stop it: routerd serves on, says so (an error line, /health), keeps the
// records in the start journal and retries; the next start whose database
// opens inserts them.
func TestUsageLedgerThatCannotOpen(t *testing.T) {
	dir, snap := usageInstall(t)
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startRouterd(t, "-snapshot", snap, "-usage-db", filepath.Join(file, "usage.db"))
	if p.url != "" {
		t.Fatalf("routerd listened with a ledger under a regular file:\n%s", p.logText())
	}
	<-p.done
	if !strings.Contains(p.logText(), "cannot start") {
		t.Errorf("no \"cannot start\" line:\n%s", p.logText())
	}

	// usage.db is a folder: the start journal opens, SQLite cannot.
	bad := filepath.Join(dir, "bad", "usage.db")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	p = startRouterd(t, "-snapshot", snap, "-usage-db", bad)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	if p.waitLog(ledgerRetryMsg, 0) == nil {
		t.Fatalf("no line saying the ledger cannot be opened:\n%s", p.logText())
	}
	if s := ledgerState(t, p); s != "retrying" {
		t.Errorf("usage_ledger %q, want retrying", s)
	}
	code, id, body := chatAs(t, p.url, "", chatMini)
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	p.signal(syscall.SIGTERM)
	<-p.done
	if p.err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", p.err, p.logText())
	}

	// The folder removed, the next start inserts the held record.
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	p = startRouterd(t, "-snapshot", snap, "-usage-db", bad)
	if p.url == "" {
		t.Fatalf("routerd did not restart:\n%s", p.logText())
	}
	var rq requestsAnswer
	getJSON(t, p.url+"/v1/admin/requests?limit=10", &rq)
	if len(rq.Data) != 1 || rq.Data[0].RequestID != id {
		t.Errorf("after the fix: %+v, want the one request %s", rq.Data, id)
	}
}

const ledgerRetryMsg = "usage ledger: cannot open it; routerd serves on, keeps the records in the start journal and retries (fix usage.path or -usage-db, or restart with -usage-db off)"
