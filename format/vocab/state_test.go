package vocab

import (
	"strings"
	"testing"
)

func TestCheckRedisURL(t *testing.T) {
	for _, ok := range []string{
		"redis://127.0.0.1:6379/0", "redis://localhost", "rediss://:s3cret@cache.internal:6380/2",
		"redis://user:pw@host:1/15", "unix:///run/redis/redis.sock", " redis://h:6379 ",
	} {
		if err := CheckRedisURL(ok); err != nil {
			t.Errorf("CheckRedisURL(%q) = %v, want nil", ok, err)
		}
	}
	for in, want := range map[string]string{
		"":                              "is empty",
		"http://host:6379":              "must start with redis://",
		"127.0.0.1:6379":                "must start with redis://",
		"redis://:6379/0":               "has no host",
		"redis://host:99999/0":          "has port",
		"redis://:hunter2@host/zero":    "has database",
		"unix://":                       "without a socket path",
		"redis://:hunter2@host:%zz/0":   "is not a URL",
		"redis://:hunter2@host:6379/-1": "has database",
	} {
		err := CheckRedisURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckRedisURL(%q) = %v, want %q", in, err, want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("CheckRedisURL(%q) leaks the password: %v", in, err)
		}
	}
}

func TestRedisURLHasPassword(t *testing.T) {
	for in, want := range map[string]bool{
		"redis://127.0.0.1:6379/0": false, "redis://:pw@h": true, "redis://user:pw@h": true,
		"redis://token@h": true, "unix:///s": false,
	} {
		if got := RedisURLHasPassword(in); got != want {
			t.Errorf("RedisURLHasPassword(%q) = %t, want %t", in, got, want)
		}
	}
}

// FuzzCheckRedisURL: any value (a config literal or an environment
// variable) is judged without a panic, and an error never quotes the
// password of the value.
func FuzzCheckRedisURL(f *testing.F) {
	for _, s := range []string{"redis://127.0.0.1:6379/0", "rediss://:pw-secret@h:1/2", "unix:///s", "redis://:pw-secret@h:x/y", "http://a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckRedisURL(s)
		_ = RedisURLHasPassword(s)
		if err != nil && strings.Contains(s, "://") && strings.Contains(s, "@") {
			pw := s[strings.Index(s, "://")+3:]
			if at := strings.LastIndex(pw, "@"); at > 0 {
				pw = pw[:at]
				if i := strings.IndexByte(pw, ':'); i >= 0 {
					pw = pw[i+1:]
				}
				if len(pw) >= 8 && strings.Contains(err.Error(), pw) {
					t.Fatalf("the error quotes the password: %v", err)
				}
			}
		}
	})
}
