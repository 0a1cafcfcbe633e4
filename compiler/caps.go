package compiler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"

	"smartrouter/compiler/cache"
	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// maxCapsFile bounds config/model_capabilities.json.
const maxCapsFile = 16 << 20

// capSet is what one source says about a model's capabilities.
type capSet struct {
	visionKnown, vision bool
	toolsKnown, tools   bool
}

// merge fills the capabilities s does not know yet from o.
func (s *capSet) merge(o capSet) {
	if !s.visionKnown && o.visionKnown {
		s.visionKnown, s.vision = true, o.vision
	}
	if !s.toolsKnown && o.toolsKnown {
		s.toolsKnown, s.tools = true, o.tools
	}
}

func (s capSet) done() bool { return s.visionKnown && s.toolsKnown }

// bits returns the format.Cap* bits.
func (s capSet) bits() uint32 {
	var b uint32
	if s.visionKnown {
		b |= format.CapVisionKnown
		if s.vision {
			b |= format.CapVision
		}
	}
	if s.toolsKnown {
		b |= format.CapToolsKnown
		if s.tools {
			b |= format.CapTools
		}
	}
	return b
}

// fromList reads a capability list (["chat", "vision", "function_calling"]):
// a non-empty list is a complete statement, so a capability missing from it
// is known to be absent.
func fromList(list []string) capSet {
	if len(list) == 0 {
		return capSet{}
	}
	s := capSet{visionKnown: true, toolsKnown: true}
	for _, c := range list {
		switch strings.ToLower(strings.TrimSpace(c)) {
		case "vision", "image", "images", "image_input", "multimodal":
			s.vision = true
		case "function_calling", "function-calling", "functions", "tools", "tool_use", "tool_calling", "tool-calling":
			s.tools = true
		}
	}
	return s
}

// fromListPositive reads a capability list that only proves what it lists
// (pricing files list "chat" for most models whatever they support).
func fromListPositive(list []string) capSet {
	s := fromList(list)
	s.visionKnown, s.toolsKnown = s.vision, s.tools
	return s
}

// fromModalities reads an architecture's input modalities: vision is known
// when they are listed.
func fromModalities(a cache.Architecture) capSet {
	if len(a.InputModalities) > 0 {
		s := capSet{visionKnown: true}
		for _, m := range a.InputModalities {
			if strings.EqualFold(m, "image") {
				s.vision = true
			}
		}
		return s
	}
	if a.Modality != "" {
		in, _, _ := strings.Cut(a.Modality, "->")
		return capSet{visionKnown: true, vision: strings.Contains(strings.ToLower(in), "image")}
	}
	return capSet{}
}

// capTable is config/model_capabilities.json.
type capTable struct {
	m map[string]capSet
}

// lookup finds a model by exact id, then without its provider/ prefix.
func (t *capTable) lookup(id string) (capSet, bool) {
	if t == nil {
		return capSet{}, false
	}
	if s, ok := t.m[id]; ok {
		return s, true
	}
	if i := strings.IndexByte(id, '/'); i >= 0 && i+1 < len(id) {
		s, ok := t.m[id[i+1:]]
		return s, ok
	}
	return capSet{}, false
}

// readCapabilities reads config/model_capabilities.json: an object keyed by
// model id (optionally inside a top-level "models" object) whose values are
// either a list of capability names or an object with optional booleans
// vision, function_calling (or tools) and an optional capabilities list.
func readCapabilities(p string) (*capTable, format.Source, error) {
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
		return nil, src, diag.Errorf(diag.Pos{File: p}, "is a directory, not a JSON file; remove it or rename it")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCapsFile+1))
	if err != nil {
		return nil, src, &diag.Error{Pos: diag.Pos{File: p}, Msg: "cannot read the file", Err: err}
	}
	if len(data) > maxCapsFile {
		return nil, src, diag.Errorf(diag.Pos{File: p}, "file is larger than %d bytes; it should list a few models", maxCapsFile)
	}
	t, err := decodeCapabilities(p, data)
	if err != nil {
		return nil, src, err
	}
	src = format.Source{Size: int64(len(data)), ModTime: fi.ModTime().UnixNano(), Hash: xxhash.Sum64(data)}
	return t, src, nil
}

// decodeCapabilities decodes the content of model_capabilities.json; name is
// used in errors.
func decodeCapabilities(name string, data []byte) (*capTable, error) {
	if len(data) == 0 {
		return nil, diag.Errorf(diag.AtOffset(name, 0, "$"), "file is empty (0 bytes); restore it or delete it")
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, diag.Errorf(diag.AtOffset(name, int64(off), "$"), "invalid UTF-8 byte 0x%02x; save the file as UTF-8", data[off])
	}
	bom := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		bom = 3
	}
	top, err := members(name, data[bom:], int64(bom), "$")
	if err != nil {
		return nil, err
	}
	path := "$"
	for _, m := range top {
		if m.key == "models" && len(m.raw) > 0 && m.raw[0] == '{' {
			path = "$.models"
			if top, err = members(name, m.raw, m.off, path); err != nil {
				return nil, err
			}
			break
		}
	}
	t := &capTable{m: make(map[string]capSet, len(top))}
	for _, m := range top {
		at := path + "[" + strconv.Quote(m.key) + "]"
		switch m.raw[0] {
		case '[':
			var list []string
			if err := json.Unmarshal(m.raw, &list); err != nil {
				return nil, jsonError(name, m.off, m.off+int64(len(m.raw)), at, err)
			}
			t.m[m.key] = fromList(list)
		case '{':
			var obj struct {
				Vision          *bool    `json:"vision"`
				FunctionCalling *bool    `json:"function_calling"`
				Tools           *bool    `json:"tools"`
				Capabilities    []string `json:"capabilities"`
			}
			if err := json.Unmarshal(m.raw, &obj); err != nil {
				return nil, jsonError(name, m.off, m.off+int64(len(m.raw)), at, err)
			}
			var s capSet
			if obj.Vision != nil {
				s.visionKnown, s.vision = true, *obj.Vision
			}
			if obj.FunctionCalling == nil {
				obj.FunctionCalling = obj.Tools
			}
			if obj.FunctionCalling != nil {
				s.toolsKnown, s.tools = true, *obj.FunctionCalling
			}
			s.merge(fromList(obj.Capabilities))
			t.m[m.key] = s
		case 'n': // null: nothing known
		default:
			if path == "$" && m.key != "models" && (m.raw[0] == '"' || m.raw[0] == '-' || m.raw[0] >= '0' && m.raw[0] <= '9') {
				continue // metadata such as "version" or "last_updated"
			}
			return nil, diag.Errorf(diag.AtOffset(name, m.off, at), "expected a list of capabilities or an object such as {\"vision\": true}, got %s", firstBytes(m.raw))
		}
	}
	return t, nil
}

// member is one key of a JSON object with its raw value and the byte offset
// of that value in the file.
type member struct {
	key string
	raw json.RawMessage
	off int64
}

// members splits the JSON object in data (at offset base of the file) into
// its members, in file order. Anything else, or anything after the object, is
// a positioned error.
func members(name string, data []byte, base int64, path string) ([]member, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	end := base + int64(len(data))
	tok, err := d.Token()
	if err != nil {
		return nil, jsonError(name, base, end, path, err)
	}
	if tok != json.Delim('{') {
		return nil, diag.Errorf(diag.AtOffset(name, base, path), "expected a JSON object keyed by model id, got %v", describeToken(tok))
	}
	var out []member
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, jsonError(name, base, end, path, err)
		}
		key, _ := tok.(string)
		at := path + "[" + strconv.Quote(key) + "]"
		var raw json.RawMessage
		start := d.InputOffset()
		if err := d.Decode(&raw); err != nil {
			return nil, jsonError(name, base, end, at, err)
		}
		// InputOffset before the value points at the ':' or blanks before it.
		off := start
		for off < int64(len(data)) && (data[off] == ':' || data[off] == ' ' || data[off] == '\t' || data[off] == '\n' || data[off] == '\r') {
			off++
		}
		out = append(out, member{key: key, raw: raw, off: base + off})
	}
	if _, err := d.Token(); err != nil {
		return nil, jsonError(name, base, end, path, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, diag.Errorf(diag.AtOffset(name, base+d.InputOffset(), path), "unexpected data after the top-level object; the file must hold one JSON object")
	}
	return out, nil
}

func describeToken(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '[' {
			return "a list"
		}
		return string(v)
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// jsonError turns an encoding/json error into a positioned error; base is
// the file offset of the bytes given to the decoder (the error offsets are
// relative to them) and eof the offset to report for an unexpected end.
func jsonError(name string, base, eof int64, path string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return diag.Errorf(diag.AtOffset(name, base+se.Offset, path), "not valid JSON: %s; fix the file or delete it", se.Error())
	case errors.As(err, &te):
		p := path
		if te.Field != "" {
			p += "." + te.Field
		}
		return diag.Errorf(diag.AtOffset(name, base+te.Offset, p), "expected %s, got a JSON %s", te.Type, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return diag.Errorf(diag.AtOffset(name, eof, path), "the file ends in the middle of a value (truncated?); restore it")
	}
	return &diag.Error{Pos: diag.AtOffset(name, base, path), Msg: "cannot decode", Err: err}
}

func firstBytes(b []byte) string {
	if len(b) > 20 {
		return fmt.Sprintf("%q...", b[:20])
	}
	return fmt.Sprintf("%q", b)
}
