package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Features are the facts of a chat request body that routing needs, read by a
// single pass over the raw bytes without decoding into maps.
type Features struct {
	Model       string // the "model" member
	Messages    int    // elements of "messages"
	InputTokens int    // estimate: CJK characters 1 token each, other text 1 per 4 characters, +4 per message
	MaxTokens   int    // "max_tokens", else "max_completion_tokens"; 0 when absent or not a plain integer
	NeedVision  bool   // a content part of type image_url
	NeedTools   bool   // "tools" or "functions" is a non-empty array
	Stream      bool   // "stream": true
	HasMessages bool   // a "messages" array is present
}

// ErrBadBody is wrapped by the errors of RequestFeatures and EstimateTokens.
var ErrBadBody = errors.New("request body is not a JSON object")

// maxTokensLimit bounds the max_tokens value taken from a request.
const maxTokensLimit = 1 << 30

// RequestFeatures scans a chat-completions body. Duplicate members behave as
// in encoding/json: the last one wins. It checks the structure it walks and
// the balance of what it skips, but it is not a full JSON validator.
func RequestFeatures(body []byte) (Features, error) {
	s := scanner{b: body}
	var f Features
	if !s.peekIs('{') {
		return f, s.err("expected '{' at the start of the body")
	}
	var maxTok, maxCompl int
	var haveMaxTok, haveMaxCompl, tools, functions bool
	err := s.object(func(key []byte) (err error) {
		switch string(key) {
		case "model":
			f.Model, err = s.stringValue()
		case "messages":
			f.Messages, f.InputTokens, f.NeedVision, f.HasMessages, err = s.messages()
		case "tools":
			tools, err = s.nonEmptyArray()
		case "functions":
			functions, err = s.nonEmptyArray()
		case "max_tokens":
			maxTok, haveMaxTok, err = s.intValue()
		case "max_completion_tokens":
			maxCompl, haveMaxCompl, err = s.intValue()
		case "stream":
			f.Stream, err = s.boolValue()
		default:
			err = s.skip()
		}
		return err
	})
	if err != nil {
		return Features{}, err
	}
	f.NeedTools = tools || functions
	switch {
	case haveMaxTok:
		f.MaxTokens = maxTok
	case haveMaxCompl:
		f.MaxTokens = maxCompl
	}
	return f, s.end()
}

// EstimateTokens estimates the input tokens of a JSON messages array:
// CJK characters 1 token each, other text 1 token per 4 characters (per
// message, rounded down), plus 4 per message.
func EstimateTokens(messagesJSON []byte) (int, error) {
	s := scanner{b: messagesJSON}
	_, n, _, _, err := s.messages()
	if err != nil {
		return 0, err
	}
	return n, s.end()
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) err(msg string) error {
	return fmt.Errorf("%w: %s at byte %d; send an OpenAI-style chat body", ErrBadBody, msg, s.i)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peekIs(c byte) bool {
	s.ws()
	return s.i < len(s.b) && s.b[s.i] == c
}

// next consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	if s.peekIs(c) {
		s.i++
		return true
	}
	return false
}

func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.err("unexpected data after the JSON value")
	}
	return nil
}

// str reads a string and returns the byte range of its contents (without the
// quotes) and whether it has escapes.
func (s *scanner) str() (start, end int, escaped, ok bool) {
	if !s.next('"') {
		return 0, 0, false, false
	}
	start = s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			end = s.i
			s.i++
			return start, end, escaped, true
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return 0, 0, false, false
		default:
			s.i++
		}
	}
	return 0, 0, false, false
}

func unescapeKey(quoted []byte) []byte {
	var k string
	if json.Unmarshal(quoted, &k) != nil {
		return nil
	}
	return []byte(k)
}

func (s *scanner) stringValue() (string, error) {
	if !s.peekIs('"') {
		return "", s.skip()
	}
	st, en, esc, ok := s.str()
	if !ok {
		return "", s.err("expected a string")
	}
	if !esc {
		return string(s.b[st:en]), nil
	}
	var v string
	if err := json.Unmarshal(s.b[st-1:en+1], &v); err != nil {
		return "", s.err("bad string escape")
	}
	return v, nil
}

func (s *scanner) boolValue() (bool, error) {
	s.ws()
	if s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "true" {
		s.i += 4
		return true, nil
	}
	return false, s.skip()
}

// intValue reads a plain non-negative integer; any other value is skipped and
// reported as absent.
func (s *scanner) intValue() (int, bool, error) {
	s.ws()
	st := s.i
	v := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		if v <= maxTokensLimit {
			v = v*10 + int(s.b[s.i]-'0')
		}
		s.i++
	}
	if s.i > st && (s.i == len(s.b) || !isNumberByte(s.b[s.i])) {
		if v > maxTokensLimit || (s.i-st > 1 && s.b[st] == '0') {
			return 0, false, nil
		}
		return v, true, nil
	}
	s.i = st
	return 0, false, s.skip()
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

func (s *scanner) nonEmptyArray() (bool, error) {
	if !s.peekIs('[') {
		return false, s.skip()
	}
	s.i++
	nonEmpty := !s.peekIs(']')
	s.i--
	return nonEmpty, s.skip()
}

// messages reads a messages array: how many, the token estimate, whether a
// content part is an image.
func (s *scanner) messages() (n, tokens int, vision, present bool, err error) {
	if !s.peekIs('[') {
		return 0, 0, false, false, s.skip()
	}
	s.i++
	if s.next(']') {
		return 0, 0, false, true, nil
	}
	for {
		n++
		cjk, other, vis, err := s.message()
		if err != nil {
			return 0, 0, false, false, err
		}
		tokens += cjk + other/4 + 4
		vision = vision || vis
		if s.next(',') {
			continue
		}
		if s.next(']') {
			return n, tokens, vision, true, nil
		}
		return 0, 0, false, false, s.err("expected ',' or ']' in messages")
	}
}

// message reads one message: characters of its text content (CJK and other)
// and whether it has an image part. A message that is not an object is skipped.
func (s *scanner) message() (cjk, other int, vision bool, err error) {
	if !s.peekIs('{') {
		return 0, 0, false, s.skip()
	}
	err = s.object(func(key []byte) error {
		if string(key) != "content" {
			return s.skip()
		}
		cjk, other, vision = 0, 0, false // the last "content" wins
		switch {
		case s.peekIs('"'):
			st, en, _, ok := s.str()
			if !ok {
				return s.err("bad string in content")
			}
			cjk, other = countText(s.b[st:en])
			return nil
		case s.peekIs('['):
			s.i++
			if s.next(']') {
				return nil
			}
			for {
				c, o, img, err := s.part()
				if err != nil {
					return err
				}
				cjk, other, vision = cjk+c, other+o, vision || img
				if s.next(',') {
					continue
				}
				if s.next(']') {
					return nil
				}
				return s.err("expected ',' or ']' in content parts")
			}
		}
		return s.skip()
	})
	return cjk, other, vision, err
}

// part reads one content part: the characters of its "text" and whether its
// "type" is image_url.
func (s *scanner) part() (cjk, other int, image bool, err error) {
	if !s.peekIs('{') {
		return 0, 0, false, s.skip()
	}
	var typ string
	err = s.object(func(key []byte) error {
		switch string(key) {
		case "type":
			typ = ""
			if !s.peekIs('"') {
				return s.skip()
			}
			st, en, esc, ok := s.str()
			if !ok {
				return s.err("bad string in type")
			}
			if esc {
				typ = string(unescapeKey(s.b[st-1 : en+1]))
			} else {
				typ = string(s.b[st:en])
			}
			return nil
		case "text":
			cjk, other = 0, 0
			if !s.peekIs('"') {
				return s.skip()
			}
			st, en, _, ok := s.str()
			if !ok {
				return s.err("bad string in text")
			}
			cjk, other = countText(s.b[st:en])
			return nil
		}
		return s.skip()
	})
	return cjk, other, typ == "image_url", err
}

// object walks the members of an object, calling member with the scanner
// placed on each value.
func (s *scanner) object(member func(key []byte) error) error {
	if !s.next('{') {
		return s.err("expected an object")
	}
	if s.next('}') {
		return nil
	}
	for {
		ks, ke, esc, ok := s.str()
		if !ok {
			return s.err("expected a member name")
		}
		if !s.next(':') {
			return s.err("expected ':'")
		}
		key := s.b[ks:ke]
		if esc {
			key = unescapeKey(s.b[ks-1 : ke+1])
		}
		if err := member(key); err != nil {
			return err
		}
		if s.next(',') {
			continue
		}
		if s.next('}') {
			return nil
		}
		return s.err("expected ',' or '}' after a member")
	}
}

// skip passes over one value: strings are scanned for their end, brackets are
// counted, scalars run to the next delimiter.
func (s *scanner) skip() error {
	s.ws()
	if s.i >= len(s.b) {
		return s.err("expected a value")
	}
	switch s.b[s.i] {
	case '"':
		if _, _, _, ok := s.str(); !ok {
			return s.err("unterminated string")
		}
		return nil
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, _, ok := s.str(); !ok {
					return s.err("unterminated string")
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return s.err("unbalanced brackets")
	case ',', '}', ']', ':':
		return s.err("expected a value")
	}
	st := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
			if s.i == st {
				return s.err("expected a value")
			}
			return nil
		}
		s.i++
	}
	return nil
}

// countText counts the characters of the raw contents of a JSON string,
// decoding escapes: CJK characters and the others.
func countText(b []byte) (cjk, other int) {
	for i := 0; i < len(b); {
		var r rune
		if b[i] == '\\' && i+1 < len(b) {
			if b[i+1] == 'u' && i+6 <= len(b) {
				r = hex4(b[i+2 : i+6])
				i += 6
				if r >= 0xD800 && r < 0xDC00 && i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
					if lo := hex4(b[i+2 : i+6]); lo >= 0xDC00 && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
						i += 6
					}
				}
			} else {
				r = 'x'
				i += 2
			}
		} else {
			var n int
			r, n = utf8.DecodeRune(b[i:])
			i += n
		}
		if isCJK(r) {
			cjk++
		} else {
			other++
		}
	}
	return cjk, other
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return utf8.RuneError
		}
	}
	return r
}

// isCJK reports whether r is a Chinese, Japanese or Korean character (CJK
// symbols and punctuation, kana, ideographs, Hangul syllables, fullwidth forms).
func isCJK(r rune) bool {
	switch {
	case r < 0x3000:
		return false
	case r <= 0x30FF: // CJK punctuation, hiragana, katakana
		return true
	case r >= 0x3400 && r <= 0x4DBF, r >= 0x4E00 && r <= 0x9FFF:
		return true
	case r >= 0xAC00 && r <= 0xD7AF: // Hangul syllables
		return true
	case r >= 0xF900 && r <= 0xFAFF, r >= 0xFF00 && r <= 0xFFEF:
		return true
	case r >= 0x20000 && r <= 0x2FA1F:
		return true
	}
	return false
}
