package usage

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// groupSQL is the SQL expression of each group: time groups are integer
// buckets of the nanosecond timestamp, formatted after the query.
var groupSQL = map[string]string{
	GroupKey:     "key",
	GroupChannel: "channel",
	GroupModel:   "model_used",
	GroupDay:     "ts / 86400000000000",
	GroupHour:    "ts / 3600000000000",
}

// Usage answers q from the database, after writing what is queued (at
// most a short wait).
func (l *Ledger) Usage(q Query) (*Result, error) {
	l.sync()
	var sel, grp strings.Builder
	for i, g := range q.GroupBy {
		if i > 0 {
			sel.WriteString(", ")
			grp.WriteString(", ")
		}
		sel.WriteString(groupSQL[g])
		grp.WriteString(fmt.Sprint(i + 1))
	}
	// One statement for both backends: CASE rather than SUM(boolean), and
	// the token sums cast back from PostgreSQL's NUMERIC.
	stmt := "SELECT " + sel.String() + `, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
		CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), SUM(cost_usd),
		SUM(CASE WHEN attempts > 0 THEN upstream_ms ELSE 0 END), SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END)
		FROM requests WHERE ts >= ? AND ts < ? GROUP BY ` + grp.String() + " ORDER BY " + grp.String() + " LIMIT ?"
	rows, err := l.db.Query(l.rebind(stmt), q.From.UnixNano(), q.To.UnixNano(), MaxRows+1)
	if err != nil {
		return nil, fmt.Errorf("usage ledger: query: %w", err)
	}
	defer rows.Close()
	res := &Result{Query: q}
	ng := len(q.GroupBy)
	for rows.Next() {
		if len(res.Rows) == MaxRows {
			return nil, errTooManyRows
		}
		var row Row
		vals := make([]any, ng+7)
		var gv [MaxGroups]any
		for i := range ng {
			vals[i] = &gv[i]
		}
		var upSum float64
		var upN int64
		vals[ng], vals[ng+1], vals[ng+2], vals[ng+3], vals[ng+4], vals[ng+5], vals[ng+6] =
			&row.Requests, &row.Errors, &row.InputTokens, &row.OutputTokens, &row.CostUSD, &upSum, &upN
		if err := rows.Scan(vals...); err != nil {
			return nil, fmt.Errorf("usage ledger: read a row: %w", err)
		}
		row.Group = make([]string, ng)
		for i, g := range q.GroupBy {
			row.Group[i] = groupString(g, gv[i])
		}
		if upN > 0 {
			row.UpstreamMsAvg = upSum / float64(upN)
		}
		// Sums of floats depend on the order the database adds them in:
		// rounded to 1e-12 USD, both backends answer the same digits.
		row.CostUSD = math.Round(row.CostUSD*1e12) / 1e12
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage ledger: query: %w", err)
	}
	sortRows(res.Rows) // the buckets sort as their strings do; keeps one order with the ring's
	res.sum()
	return res, nil
}

// groupString formats a group value read from SQL.
func groupString(g string, v any) string {
	switch g {
	case GroupDay, GroupHour:
		n, _ := v.(int64)
		if g == GroupDay {
			return time.Unix(n*86400, 0).UTC().Format(time.DateOnly)
		}
		return time.Unix(n*3600, 0).UTC().Format(time.RFC3339)
	}
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// Recent returns the latest n records, newest first, after writing what is
// queued (at most a short wait).
func (l *Ledger) Recent(n int) ([]Record, error) {
	l.sync()
	rows, err := l.db.Query(l.rebind(`SELECT ts, request_id, key, surface, model_requested, channel, model_used, attempts, status,
		error_code, input_tokens, output_tokens, cost_usd, upstream_ms, overhead_ms, stream
		FROM requests ORDER BY ts DESC, id DESC LIMIT ?`), n)
	if err != nil {
		return nil, fmt.Errorf("usage ledger: query: %w", err)
	}
	defer rows.Close()
	out := make([]Record, 0, n)
	for rows.Next() {
		var r Record
		var ts int64
		if err := rows.Scan(&ts, &r.RequestID, &r.Key, &r.Surface, &r.ModelRequested, &r.Channel, &r.ModelUsed,
			&r.Attempts, &r.Status, &r.ErrorCode, &r.InputTokens, &r.OutputTokens, &r.CostUSD, &r.UpstreamMs,
			&r.OverheadMs, &r.Stream); err != nil {
			return nil, fmt.Errorf("usage ledger: read a row: %w", err)
		}
		r.Time = time.Unix(0, ts).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage ledger: query: %w", err)
	}
	return out, nil
}

// SpendByKey returns the USD spent per client key name since since (for
// the budgets of the client keys at start); requests without a key are
// left out.
func (l *Ledger) SpendByKey(since time.Time) (map[string]float64, error) {
	l.sync()
	rows, err := l.db.Query(l.rebind(`SELECT key, SUM(cost_usd) FROM requests WHERE ts >= ? AND key != '' GROUP BY key`), since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("usage ledger: spend per key: %w", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var k string
		var v float64
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("usage ledger: spend per key: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// RequestsByChannel returns the requests whose last attempt went to each
// channel since since (for the channels' daily limits at start).
func (l *Ledger) RequestsByChannel(since time.Time) (map[string]int, error) {
	l.sync()
	rows, err := l.db.Query(l.rebind(`SELECT channel, COUNT(*) FROM requests WHERE ts >= ? AND channel != '' GROUP BY channel`), since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("usage ledger: requests per channel: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var v int
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("usage ledger: requests per channel: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}
