package server

import (
	"bytes"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/runtime/jsonstr"
)

// Error types and codes of the OpenAI-style error bodies.
const (
	typeInvalid = "invalid_request_error"
	typeAuth    = "authentication_error"
	typeServer  = "server_error"
	typeUp      = "upstream_error"

	codeInvalid     = "invalid_request"
	codeTooLarge    = "request_too_large"
	codeStrategy    = "invalid_strategy"
	codeModel       = "model_not_found"
	codeNoChannels  = "no_channels_available"
	codeAllFailed   = "all_channels_failed"
	codeAuth        = "invalid_api_key"
	codeNotReady    = "not_ready"
	codeNotFound    = "not_found"
	codeMethod      = "method_not_allowed"
	codeTimeout     = "request_timeout"
	codeInternal    = "internal_error"
	codeStreamCut   = "upstream_stream_failed"
	codeReload      = "reload_failed"
	codeUnsupported = "unsupported_encoding"
)

// Response headers.
const (
	HeaderRequestID = "X-Request-ID"
	HeaderChannel   = "X-Router-Channel"
	HeaderProvider  = "X-Router-Provider"
	HeaderModel     = "X-Router-Model"
	HeaderStrategy  = "X-Router-Strategy"
	HeaderScore     = "X-Router-Score"
	HeaderAttempts  = "X-Router-Attempts"
	HeaderOverhead  = "X-Router-Overhead-Ms"
	HeaderStatus    = "X-Router-Status"
)

// X-Router-Status values.
const (
	statusAllFailed = "all-channels-failed"
)

// appendErrorBody appends {"error":{"message","type","code","param"}}
// without the closing braces of "error" and of the object, so that a caller
// can add members (see closeErrorBody).
func appendErrorOpen(dst []byte, typ, code, param, msg string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonstr.Append(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = jsonstr.Append(dst, typ)
	dst = append(dst, `,"code":`...)
	dst = jsonstr.Append(dst, code)
	dst = append(dst, `,"param":`...)
	if param == "" {
		dst = append(dst, "null"...)
	} else {
		dst = jsonstr.Append(dst, param)
	}
	return dst
}

func appendErrorBody(dst []byte, typ, code, param, msg string) []byte {
	return append(appendErrorOpen(dst, typ, code, param, msg), "}}"...)
}

// writeError answers an OpenAI-style error. The body is copied into the
// response, so msg may point into snapshot memory.
func writeError(c *fiber.Ctx, status int, typ, code, param, msg string) {
	r := c.Response()
	r.SetStatusCode(status)
	r.Header.SetContentType(fiber.MIMEApplicationJSON)
	var buf [512]byte
	r.SetBody(appendErrorBody(buf[:0], typ, code, param, msg))
}

// writeJSON answers status with a body copied into the response.
func writeJSON(c *fiber.Ctx, status int, body []byte) {
	r := c.Response()
	r.SetStatusCode(status)
	r.Header.SetContentType(fiber.MIMEApplicationJSON)
	r.SetBody(body)
}

// appendMs appends a duration in milliseconds with 3 decimals.
func appendMs(dst []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	return appendFloat(dst, float64(d)/float64(time.Millisecond), 3)
}

// appendFloat appends f with at most prec decimals, trailing zeros dropped.
func appendFloat(dst []byte, f float64, prec int) []byte {
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', prec, 64)
	if bytes.IndexByte(dst[n:], '.') >= 0 {
		for dst[len(dst)-1] == '0' {
			dst = dst[:len(dst)-1]
		}
		if dst[len(dst)-1] == '.' {
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
