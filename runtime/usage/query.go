package usage

import (
	"bytes"
	"encoding/csv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"smartrouter/runtime/jsonstr"
)

// Group names accepted by group_by.
const (
	GroupKey     = "key"
	GroupChannel = "channel"
	GroupModel   = "model" // the model used (the last attempt's)
	GroupDay     = "day"   // UTC day, "2026-12-03"
	GroupHour    = "hour"  // UTC hour, "2026-12-03T13:00:00Z"
)

// Limits of a usage query.
const (
	MaxRange    = 400 * 24 * time.Hour // the longest from..to
	MaxRows     = 50000                // the most rows an answer may have
	MaxGroups   = 2                    // group_by columns
	DefaultSpan = 24 * time.Hour       // from = to - DefaultSpan when from is absent
	MaxLimit    = 1000                 // the most records /v1/admin/requests returns
	DefaultLim  = 50                   // its default
)

// Query is a parsed usage query: records with From <= Time < To, grouped
// by GroupBy.
type Query struct {
	From, To time.Time
	GroupBy  []string
	CSV      bool
}

// QueryError is a bad query parameter: Param names it, Message says what to
// send instead.
type QueryError struct {
	Param   string
	Message string
}

func (e *QueryError) Error() string { return e.Param + ": " + e.Message }

func badParam(param, msg string) *QueryError { return &QueryError{Param: param, Message: msg} }

// ParseQuery reads the parameters of GET /v1/admin/usage: from and to (RFC
// 3339 or Unix seconds; to defaults to now, from to to - DefaultSpan),
// group_by (one or two of key, channel, model, day, hour, comma separated;
// default day) and format (json, the default, or csv). Errors are
// *QueryError.
func ParseQuery(from, to, groupBy, format string, now time.Time) (Query, error) {
	var q Query
	var err error
	q.To = now.UTC()
	if to != "" {
		if q.To, err = parseTime("to", to); err != nil {
			return q, err
		}
	}
	q.From = q.To.Add(-DefaultSpan)
	if from != "" {
		if q.From, err = parseTime("from", from); err != nil {
			return q, err
		}
	}
	if q.From.After(q.To) {
		return q, badParam("from", "from ("+q.From.Format(time.RFC3339)+") is after to ("+q.To.Format(time.RFC3339)+"); swap them")
	}
	if q.To.Sub(q.From) > MaxRange {
		return q, badParam("from", "the range from..to is longer than 400 days; ask for a shorter range")
	}
	if groupBy == "" {
		groupBy = GroupDay
	}
	if len(groupBy) > 32 {
		return q, badParam("group_by", "group_by is too long; use one or two of key, channel, model, day, hour separated by a comma")
	}
	for g := range strings.SplitSeq(groupBy, ",") {
		g = strings.TrimSpace(g)
		switch g {
		case GroupKey, GroupChannel, GroupModel, GroupDay, GroupHour:
		default:
			return q, badParam("group_by", "unknown group "+strconv.Quote(g)+"; use one or two of key, channel, model, day, hour separated by a comma (e.g. hour,channel)")
		}
		if slices.Contains(q.GroupBy, g) {
			return q, badParam("group_by", "group "+strconv.Quote(g)+" is named twice")
		}
		if len(q.GroupBy) == MaxGroups {
			return q, badParam("group_by", "group by at most two columns (e.g. hour,channel)")
		}
		q.GroupBy = append(q.GroupBy, g)
	}
	switch format {
	case "", "json":
	case "csv":
		q.CSV = true
	default:
		return q, badParam("format", "unknown format "+strconv.Quote(format)+"; use json or csv")
	}
	return q, nil
}

// minTime and maxTime bound the dates a query accepts.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseTime reads an RFC 3339 time or Unix seconds.
func parseTime(param, v string) (time.Time, error) {
	var t time.Time
	if len(v) > 40 {
		return t, badParam(param, param+" is too long; send an RFC 3339 time (2026-12-03T13:00:00Z) or Unix seconds")
	}
	if v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxTime.Unix() {
			return t, badParam(param, param+" "+strconv.Quote(v)+" is out of range; send Unix seconds before 2200 or an RFC 3339 time")
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, badParam(param, param+" "+strconv.Quote(v)+" is not a time; send an RFC 3339 time (2026-12-03T13:00:00Z) or Unix seconds")
	}
	t = t.UTC()
	if t.Before(minTime) || !t.Before(maxTime) {
		return t, badParam(param, param+" "+strconv.Quote(v)+" is out of range; send a time between 1970 and 2200")
	}
	return t, nil
}

// ParseLimit reads the limit of GET /v1/admin/requests: DefaultLim when
// empty, else 1..MaxLimit.
func ParseLimit(v string) (int, error) {
	if v == "" {
		return DefaultLim, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, badParam("limit", "limit must be an integer from 1 to "+strconv.Itoa(MaxLimit))
	}
	return n, nil
}

// Totals are the sums of a usage answer.
type Totals struct {
	Requests     int64
	Errors       int64
	InputTokens  int64
	OutputTokens int64
	CostUSD      float64
}

// Row is one group of a usage answer: Group holds the value of each
// GroupBy column in order.
type Row struct {
	Group []string
	Totals
	UpstreamMsAvg float64 // mean upstream time of the group's records that made an attempt
}

// Result is a usage answer.
type Result struct {
	Query  Query
	Rows   []Row
	Totals Totals
}

// errTooManyRows refuses an answer over MaxRows rows.
var errTooManyRows = badParam("group_by", "the answer would have more than "+strconv.Itoa(MaxRows)+" rows; ask for a shorter range or a coarser grouping (day instead of hour)")

// groupValue is the value of group g for r.
func groupValue(g string, r *Record) string {
	switch g {
	case GroupKey:
		return r.Key
	case GroupChannel:
		return r.Channel
	case GroupModel:
		return r.ModelUsed
	case GroupDay:
		return dayString(r.Time.UnixNano())
	default:
		return hourString(r.Time.UnixNano())
	}
}

func dayString(ns int64) string {
	return time.Unix(0, ns).UTC().Truncate(24 * time.Hour).Format(time.DateOnly)
}

func hourString(ns int64) string {
	return time.Unix(0, ns).UTC().Truncate(time.Hour).Format(time.RFC3339)
}

// aggregate answers q over records in memory (the ring): the same groups,
// sums and order as the ledger's SQL.
func aggregate(recs []Record, q Query) (*Result, error) {
	type acc struct {
		row   Row
		upSum float64
		upN   int64
	}
	groups := map[[MaxGroups]string]*acc{}
	res := &Result{Query: q}
	for i := range recs {
		r := &recs[i]
		if r.Time.Before(q.From) || !r.Time.Before(q.To) {
			continue
		}
		var k [MaxGroups]string
		for j, g := range q.GroupBy {
			k[j] = groupValue(g, r)
		}
		a := groups[k]
		if a == nil {
			if len(groups) == MaxRows {
				return nil, errTooManyRows
			}
			a = &acc{row: Row{Group: slices.Clone(k[:len(q.GroupBy)])}}
			groups[k] = a
		}
		t := &a.row.Totals
		t.Requests++
		if r.Status >= 400 {
			t.Errors++
		}
		t.InputTokens += r.InputTokens
		t.OutputTokens += r.OutputTokens
		t.CostUSD += r.CostUSD
		if r.Attempts > 0 {
			a.upSum += r.UpstreamMs
			a.upN++
		}
	}
	for _, a := range groups {
		if a.upN > 0 {
			a.row.UpstreamMsAvg = a.upSum / float64(a.upN)
		}
		res.Rows = append(res.Rows, a.row)
	}
	sortRows(res.Rows)
	res.sum()
	return res, nil
}

func sortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int { return slices.Compare(a.Group, b.Group) })
}

// sum fills the totals from the rows.
func (r *Result) sum() {
	r.Totals = Totals{}
	for i := range r.Rows {
		t := &r.Rows[i].Totals
		r.Totals.Requests += t.Requests
		r.Totals.Errors += t.Errors
		r.Totals.InputTokens += t.InputTokens
		r.Totals.OutputTokens += t.OutputTokens
		r.Totals.CostUSD += t.CostUSD
	}
}

func appendNum(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func appendMs(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.AppendFloat(b, math.Round(v*1000)/1000, 'f', -1, 64)
}

func appendTotals(b []byte, t *Totals) []byte {
	b = append(b, `"requests":`...)
	b = strconv.AppendInt(b, t.Requests, 10)
	b = append(b, `,"errors":`...)
	b = strconv.AppendInt(b, t.Errors, 10)
	b = append(b, `,"input_tokens":`...)
	b = strconv.AppendInt(b, t.InputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, t.OutputTokens, 10)
	b = append(b, `,"cost_usd":`...)
	return appendNum(b, t.CostUSD)
}

// AppendJSON appends the answer in the JSON shape of GET /v1/admin/usage.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"object":"usage","from":`...)
	b = jsonstr.Append(b, r.Query.From.Format(time.RFC3339))
	b = append(b, `,"to":`...)
	b = jsonstr.Append(b, r.Query.To.Format(time.RFC3339))
	b = append(b, `,"group_by":[`...)
	for i, g := range r.Query.GroupBy {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, g)
	}
	b = append(b, `],"rows":[`...)
	for i := range r.Rows {
		row := &r.Rows[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j, g := range r.Query.GroupBy {
			b = jsonstr.Append(b, g)
			b = append(b, ':')
			b = jsonstr.Append(b, row.Group[j])
			b = append(b, ',')
		}
		b = appendTotals(b, &row.Totals)
		b = append(b, `,"upstream_ms_avg":`...)
		b = appendMs(b, row.UpstreamMsAvg)
		b = append(b, '}')
	}
	b = append(b, `],"totals":{`...)
	b = appendTotals(b, &r.Totals)
	return append(b, "}}"...)
}

// CSVColumns are the columns of a usage CSV after the group columns.
var CSVColumns = []string{"requests", "errors", "input_tokens", "output_tokens", "cost_usd", "upstream_ms_avg"}

// AppendCSV appends the answer as CSV: a header row (the group names, then
// CSVColumns) and one row per group. A cell a spreadsheet would read as a
// formula (starting with = + - @) gets a leading apostrophe.
func (r *Result) AppendCSV(b []byte) []byte {
	var buf bytes.Buffer
	buf.Write(b)
	w := csv.NewWriter(&buf)
	head := append(slices.Clone(r.Query.GroupBy), CSVColumns...)
	_ = w.Write(head)
	rec := make([]string, len(head))
	for i := range r.Rows {
		row := &r.Rows[i]
		for j := range r.Query.GroupBy {
			rec[j] = csvSafe(row.Group[j])
		}
		n := len(r.Query.GroupBy)
		rec[n] = strconv.FormatInt(row.Requests, 10)
		rec[n+1] = strconv.FormatInt(row.Errors, 10)
		rec[n+2] = strconv.FormatInt(row.InputTokens, 10)
		rec[n+3] = strconv.FormatInt(row.OutputTokens, 10)
		rec[n+4] = string(appendNum(nil, row.CostUSD))
		rec[n+5] = string(appendMs(nil, row.UpstreamMsAvg))
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// AppendRecordsJSON appends the answer of GET /v1/admin/requests.
func AppendRecordsJSON(b []byte, recs []Record) []byte {
	b = append(b, `{"object":"list","data":[`...)
	for i := range recs {
		r := &recs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"time":`...)
		b = jsonstr.Append(b, r.Time.UTC().Format(time.RFC3339Nano))
		b = append(b, `,"request_id":`...)
		b = jsonstr.Append(b, r.RequestID)
		b = append(b, `,"key":`...)
		b = jsonstr.Append(b, r.Key)
		b = append(b, `,"surface":`...)
		b = jsonstr.Append(b, r.Surface)
		b = append(b, `,"model_requested":`...)
		b = jsonstr.Append(b, r.ModelRequested)
		b = append(b, `,"channel":`...)
		b = jsonstr.Append(b, r.Channel)
		b = append(b, `,"model_used":`...)
		b = jsonstr.Append(b, r.ModelUsed)
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(r.Attempts), 10)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
		b = append(b, `,"error_code":`...)
		b = jsonstr.Append(b, r.ErrorCode)
		b = append(b, `,"input_tokens":`...)
		b = strconv.AppendInt(b, r.InputTokens, 10)
		b = append(b, `,"output_tokens":`...)
		b = strconv.AppendInt(b, r.OutputTokens, 10)
		b = append(b, `,"cost_usd":`...)
		b = appendNum(b, r.CostUSD)
		b = append(b, `,"upstream_ms":`...)
		b = appendMs(b, r.UpstreamMs)
		b = append(b, `,"overhead_ms":`...)
		b = appendMs(b, r.OverheadMs)
		b = append(b, `,"stream":`...)
		b = strconv.AppendBool(b, r.Stream)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
