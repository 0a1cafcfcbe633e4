package body

import "unicode/utf8"

// tokens estimates the input tokens of one message from the characters of
// its text: CJK characters 1 token each, others 1 per 4 (rounded down), plus
// 4 for the message itself.
func tokens(cjk, other int) int { return cjk + other/4 + 4 }

// countText counts the characters of the raw contents of a JSON string the
// scanner has checked, decoding escapes: CJK characters and the others.
func countText(b []byte) (cjk, other int) {
	for i := 0; i < len(b); {
		if c := b[i]; c < utf8.RuneSelf && c != '\\' { // plain ASCII: never CJK
			other++
			i++
			continue
		}
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
