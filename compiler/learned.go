package compiler

import (
	"io"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"

	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/reqpatterns"
)

// Learned prewarm: routerd counts the model strings it routes and keeps the
// most requested in cache/request_patterns.json (format/reqpatterns). With
// routing.learned_prewarm: N (default 10, 0 = off) the first N of them join
// the prewarm lists, after the configured ones. The file is recorded as a
// source when it exists, so a server notices when the ranking changes
// (routerd rewrites it only then).

const groupLearned = "request patterns: file skipped"

// learnedPatterns reads the patterns file when learned prewarm is on and a
// cache folder is given. A file that does not parse is a warning (and
// contributes nothing); it is still recorded as a source.
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
		// Not recorded as absent: routerd creates the file itself, and its
		// first appearance should not make the snapshot serving stale.
		return nil
	}
	data, src, err := readPatternsFile(p)
	if err != nil {
		return err
	}
	r.addSource(cachePrefix, r.cacheRel(p), src)
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

// readPatternsFile reads at most reqpatterns.MaxFileSize+1 bytes of p and
// returns them with the file's source record (size, time, hash).
func readPatternsFile(p string) ([]byte, format.Source, error) {
	var src format.Source
	f, err := os.Open(p)
	if err != nil {
		return nil, src, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot open the file", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, src, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot stat the file", Err: err}
	}
	if fi.IsDir() {
		return nil, src, diag.Errorf(diag.Pos{File: p}, "is a directory, not the request patterns file; remove it")
	}
	data, err := io.ReadAll(io.LimitReader(f, reqpatterns.MaxFileSize+1))
	if err != nil {
		return nil, src, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot read the file", Err: err}
	}
	src = format.Source{Size: int64(len(data)), ModTime: fi.ModTime().UnixNano(), Hash: xxhash.Sum64(data)}
	if int64(len(data)) != fi.Size() {
		// Over the limit (Parse refuses it) or changed while read.
		src.Size = fi.Size()
	}
	return data, src, nil
}
