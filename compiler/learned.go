package compiler

import (
	"io"
	"os"
	"path/filepath"

	"smartrouter/compiler/diag"
	"smartrouter/format/reqpatterns"
)

// Learned prewarm: routerd counts the model strings it routes and keeps the
// most requested in cache/request_patterns.json (format/reqpatterns). With
// routing.learned_prewarm: N (default 10, 0 = off) the first N of them join
// the prewarm lists, after the configured ones. The file is not recorded as
// a source: it only tunes which candidate sets are computed ahead, never what
// a request is routed to, so a new ranking must not make the snapshot stale
// (that would turn routerd's next start into a JSON fallback build). The next
// compile or refresh picks the new ranking up.

const groupLearned = "request patterns: file skipped"

// learnedPatterns reads the patterns file when learned prewarm is on and a
// cache folder is given. A file that does not parse is a warning (and
// contributes nothing).
func (r *reader) learnedPatterns() error {
	n := r.in.cfg.Routing.LearnedPrewarm
	if n <= 0 || r.cacheDir == "" {
		return nil
	}
	p := filepath.Join(r.cacheDir, reqpatterns.FileName)
	ok, err := exists(p)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	data, err := readPatternsFile(p)
	if err != nil {
		return err
	}
	f, err := reqpatterns.Parse(data)
	if err != nil {
		r.w.Add(diag.Pos{File: p}, groupLearned, "%v", err)
		return nil
	}
	for _, e := range f.Models {
		if len(r.in.learned) == n {
			break
		}
		r.in.learned = append(r.in.learned, e.Model)
	}
	return nil
}

// readPatternsFile reads at most reqpatterns.MaxFileSize+1 bytes of p (Parse
// refuses a larger file).
func readPatternsFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot open the file", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot stat the file", Err: err}
	}
	if fi.IsDir() {
		return nil, diag.Errorf(diag.Pos{File: p}, "is a directory, not the request patterns file; remove it")
	}
	data, err := io.ReadAll(io.LimitReader(f, reqpatterns.MaxFileSize+1))
	if err != nil {
		return nil, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot read the file", Err: err}
	}
	return data, nil
}
