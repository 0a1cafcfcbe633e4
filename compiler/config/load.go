package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"go.yaml.in/yaml/v3"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// Names of the files Load reads, in merge order. Only MainFile is required.
const (
	MainFile        = "router_config.yaml"
	ProvidersFile   = "providers.yaml"
	PricingFile     = "pricing_config.yaml"
	RoutingFile     = "routing_config.yaml"
	PerformanceFile = "performance.yaml"
)

func fileOrder() [5]string {
	return [5]string{MainFile, ProvidersFile, PricingFile, RoutingFile, PerformanceFile}
}

// doc is one parsed file; root is nil when the file was absent or held no
// YAML document.
type doc struct {
	file string
	root *yaml.Node
}

// Load reads the config folder dir (a Python Smart AI Router's config/, or
// the installation folder that holds it): router_config.yaml, then the
// optional overlays providers.yaml, pricing_config.yaml, routing_config.yaml
// and performance.yaml. It returns the merged Config and one Source per file
// read, with Path relative to dir. Warnings go to w (which may be nil). On
// error nothing else is returned; input errors are *diag.Error values that
// name the file, line and column.
func Load(dir string, opts Options, w *diag.Warnings) (*Config, []format.Source, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("config folder: %w; give the path of the router's config/ folder", err)
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("config folder %s is not a directory; give the folder that holds %s", dir, MainFile)
	}
	sub := ""
	if _, err := os.Lstat(filepath.Join(dir, MainFile)); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, "config", MainFile)); err == nil {
			sub = "config"
		}
	}
	s := newState(opts, w)
	var files [5]memFile
	var srcs []format.Source
	for i, name := range fileOrder() {
		rel := filepath.Join(sub, name)
		path := filepath.Join(dir, rel)
		data, src, err := s.readFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			if i == 0 {
				return nil, nil, fmt.Errorf("%s not found in %s: %w; give the router's config/ folder", MainFile, dir, err)
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		src.Path = filepath.ToSlash(rel)
		srcs = append(srcs, src)
		files[i] = memFile{name: path, data: data, present: true}
	}
	c, err := s.load(files)
	if err != nil {
		return nil, nil, err
	}
	return c, srcs, nil
}

// LoadBytes decodes the content of a router_config.yaml alone (no overlays);
// name is used in messages. It applies every check Load applies to that file.
func LoadBytes(name string, data []byte, opts Options, w *diag.Warnings) (*Config, error) {
	return newState(opts, w).load([5]memFile{{name: name, data: data, present: true}})
}

// memFile is one input file in memory, in the slots of fileOrder.
type memFile struct {
	name    string
	data    []byte
	present bool
}

// load parses and decodes files (the first one is required).
func (s *state) load(files [5]memFile) (*Config, error) {
	var docs [5]doc
	for i, f := range files {
		if !f.present {
			continue
		}
		if int64(len(f.data)) > s.maxFileSize() {
			return nil, diag.Errorf(diag.Pos{File: f.name}, "file has %d bytes, more than the limit of %d; raise Options.MaxFileSize if it is genuine", len(f.data), s.maxFileSize())
		}
		docs[i] = doc{file: f.name, root: s.parse(f.name, f.data)}
		if s.err != nil {
			return nil, s.err
		}
	}
	c := s.decode(docs)
	if s.err != nil {
		return nil, s.err
	}
	return c, nil
}

func newState(opts Options, w *diag.Warnings) *state {
	if w == nil {
		w = new(diag.Warnings)
	}
	return &state{opts: opts, w: w}
}

func (s *state) maxFileSize() int64 {
	if s.opts.MaxFileSize > 0 {
		return s.opts.MaxFileSize
	}
	return DefaultMaxFileSize
}

// readFile reads one file and describes it as a Source (Path left empty).
// A missing file gives an error matching fs.ErrNotExist.
func (s *state) readFile(path string) ([]byte, format.Source, error) {
	var src format.Source
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, src, err
		}
		return nil, src, fmt.Errorf("%s: cannot open: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, src, fmt.Errorf("%s: cannot stat: %w", path, err)
	}
	if fi.IsDir() {
		return nil, src, diag.Errorf(diag.Pos{File: path}, "is a directory, expected a YAML file; move it away or rename it")
	}
	if !fi.Mode().IsRegular() {
		return nil, src, diag.Errorf(diag.Pos{File: path}, "is not a regular file (%s); give a plain YAML file", fi.Mode().Type())
	}
	max := s.maxFileSize()
	if fi.Size() > max {
		return nil, src, diag.Errorf(diag.Pos{File: path}, "file has %d bytes, more than the limit of %d; raise Options.MaxFileSize if it is genuine", fi.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, src, fmt.Errorf("%s: cannot read: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, src, diag.Errorf(diag.Pos{File: path}, "file grew beyond the limit of %d bytes while being read", max)
	}
	src = format.Source{Size: int64(len(data)), ModTime: fi.ModTime().UnixNano(), Hash: xxhash.Sum64(data)}
	return data, src, nil
}

// parse checks and parses one file. It returns the root mapping, or nil when
// the file holds no YAML document; errors go to s.err.
func (s *state) parse(file string, data []byte) *yaml.Node {
	if len(data) == 0 {
		s.fail(diag.Pos{File: file}, "", "file is empty (0 bytes); restore its content, or delete it if it is an optional overlay")
		return nil
	}
	if off := invalidUTF8(data); off >= 0 {
		line, col := lineCol(data, off)
		s.fail(diag.At(file, line, col), "", "invalid UTF-8 byte 0x%02x at byte offset %d; save the file as UTF-8", data[off], off)
		return nil
	}
	first, second, err := decodeYAML(data)
	if err != nil {
		s.syntaxError(file, data, err)
		return nil
	}
	if second != nil {
		s.fail(at(file, second), "", "a second YAML document starts here; the file must hold exactly one (remove the --- separator)")
		return nil
	}
	if first == nil || len(first.Content) == 0 || isNull(first.Content[0]) {
		return nil
	}
	root := first.Content[0]
	s.checkSize(file, root)
	if s.err == nil && resolve(root).Kind != yaml.MappingNode {
		s.fail(at(file, root), "", "expected a mapping of sections at the top of the file, got %s", describe(resolve(root)))
	}
	return root
}

// decodeYAML parses the first document into a node tree (aliases are not
// expanded) and the start of a second document, if any. A panic inside the
// parser becomes an error.
func decodeYAML(data []byte) (first, second *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			first, second, err = nil, nil, fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	d := yaml.NewDecoder(bytes.NewReader(data))
	var a, b yaml.Node
	if err := d.Decode(&a); err != nil {
		if err == io.EOF {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	switch err := d.Decode(&b); {
	case err == io.EOF:
		return &a, nil, nil
	case err != nil:
		return nil, nil, err
	}
	return &a, &b, nil
}

// syntaxError turns a parser error ("yaml: line N: problem") into a
// positioned error. The parser reports no column, so the column given is the
// first non-blank character of that line.
func (s *state) syntaxError(file string, data []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := diag.Pos{File: file}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil && n > 0 {
				pos = lineStart(file, data, n)
				msg = tail
			}
		}
	}
	s.fail(pos, "", "YAML syntax error: %s", msg)
}

// lineStart returns the position of the first non-blank character of line n
// (clamped to the last line).
func lineStart(file string, data []byte, n int) diag.Pos {
	line, start := 1, 0
	for line < n {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 || start+i+1 >= len(data) {
			break
		}
		start += i + 1
		line++
	}
	col := 1
	for start+col-1 < len(data) && (data[start+col-1] == ' ' || data[start+col-1] == '\t') {
		col++
	}
	return diag.At(file, line, col)
}

func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			return off
		}
		off += size
	}
	return -1
}

// lineCol gives the 1-based line and byte column of a byte offset.
func lineCol(data []byte, off int) (line, col int) {
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = off + 1
	if i := bytes.LastIndexByte(data[:off], '\n'); i >= 0 {
		col = off - i
	}
	return line, col
}

// checkSize counts the nodes of the tree as if every alias were expanded, and
// the alias nodes, without expanding anything (each node is visited once;
// the expanded size of anchored nodes is memoised). Too many of either, or an alias inside its
// own anchor, is an error: the rest of the decoder may then expand aliases
// freely.
func (s *state) checkSize(file string, root *yaml.Node) {
	maxNodes, maxAliases := s.opts.MaxNodes, s.opts.MaxAliases
	if maxNodes <= 0 {
		maxNodes = DefaultMaxNodes
	}
	if maxAliases <= 0 {
		maxAliases = DefaultMaxAliases
	}
	memo := make(map[*yaml.Node]int)
	aliases := 0
	var where, aliasAt *yaml.Node // where a count first went over its limit
	var count func(n *yaml.Node) int
	count = func(n *yaml.Node) int {
		// Only anchored nodes can be reached twice (through aliases), so
		// only they are memoised.
		if n.Anchor != "" {
			if c, ok := memo[n]; ok {
				if c < 0 {
					s.fail(at(file, n), "", "an alias refers to an anchor that contains it; break the cycle")
					return maxNodes + 1
				}
				return c
			}
			memo[n] = -1
		}
		c := 1
		if n.Kind == yaml.AliasNode {
			if aliases++; aliases == maxAliases+1 {
				aliasAt = n
			}
			if n.Alias != nil {
				c = count(n.Alias)
			}
		}
		for _, ch := range n.Content {
			if c += count(ch); c > maxNodes {
				c = maxNodes + 1
				if where == nil {
					where = ch
				}
				break
			}
		}
		if n.Anchor != "" {
			memo[n] = c
		}
		return c
	}
	total := count(root)
	switch {
	case s.err != nil:
	case total > maxNodes:
		s.fail(at(file, where), "", "anchors and aliases expand the document to more than %d nodes (a \"billion laughs\" document?); write the values out instead of nesting aliases", maxNodes)
	case aliases > maxAliases:
		s.fail(at(file, aliasAt), "", "the document has %d aliases, more than the limit of %d; write the values out", aliases, maxAliases)
	}
}
