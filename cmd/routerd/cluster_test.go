package main

import (
	"strings"
	"testing"

	"smartrouter/format"
)

// TestRedisOptions checks the resolution of state.redis_url at load: an
// ${ENV} reference is read from the environment, a bad or missing value is
// an error that says what to do and never shows the password.
func TestRedisOptions(t *testing.T) {
	env := map[string]string{
		"GOOD":    "redis://:hunter2@127.0.0.1:6390/3",
		"BADPORT": "redis://:hunter2@127.0.0.1:99999/0",
		"BADOPT":  "redis://:hunter2@127.0.0.1:6379/0?bogus_option=1",
	}
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ro, err := redisOptions(format.Secret{Env: "GOOD"}, look)
	if err != nil || ro.Addr != "127.0.0.1:6390" || ro.DB != 3 || ro.Password != "hunter2" {
		t.Fatalf("GOOD: %+v, %v", ro, err)
	}
	if ro, err := redisOptions(format.Secret{Literal: "redis://127.0.0.1:6379/0"}, look); err != nil || ro.Addr != "127.0.0.1:6379" {
		t.Fatalf("literal: %v", err)
	}
	for sec, want := range map[format.Secret]string{
		{Env: "UNSET"}:                      "${UNSET}) is empty or unset",
		{Env: "BADPORT"}:                    "has port",
		{Env: "BADOPT"}:                     "not accepted by the Redis client",
		{Literal: "redis://:hunter2@h:1/x"}: "has database",
	} {
		_, err := redisOptions(sec, look)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", sec, err, want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%+v: the error shows the password: %v", sec, err)
		}
	}
}
