package vocab

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// CheckRedisURL checks the shape of state.redis_url (the Redis that routerd
// replicas share live state through): redis://[[user]:password@]host[:port][/db]
// or rediss:// (TLS) with a host, a port in 1..65535 when given and a
// database number when given; or unix:///path/to/socket. The compiler applies
// it to a literal URL and routerd to the value of an ${ENV} reference. The
// error never quotes the URL (it may carry a password): it says what is wrong
// and what to write.
func CheckRedisURL(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errors.New("is empty; write redis://host:6379/0 or leave state.redis_url out to share nothing")
	}
	if !strings.Contains(s, "://") {
		return errors.New("must start with redis://, rediss:// or unix://; write redis://host:6379/0")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL; write redis://[:password@]host:6379/0 (percent-encode special characters of the password)")
	}
	switch u.Scheme {
	case "redis", "rediss":
	case "unix":
		if u.Path == "" {
			return errors.New("is a unix:// URL without a socket path; write unix:///run/redis/redis.sock")
		}
		return nil
	default:
		return errors.New("must start with redis://, rediss:// or unix:// (got scheme " + strconv.Quote(u.Scheme) + ")")
	}
	if u.Hostname() == "" {
		return errors.New("has no host; write redis://host:6379/0")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("has port " + strconv.Quote(p) + "; use a number in 1..65535")
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return errors.New("has database " + strconv.Quote(db) + "; the path is a database number such as /0")
		}
	}
	return nil
}

// RedisURLHasPassword reports whether a Redis URL carries a password (or a
// lone user name, which Redis may read as one), so that the compiler can warn
// about a credential written in the config.
func RedisURLHasPassword(s string) bool {
	u, err := url.Parse(strings.TrimSpace(s))
	return err == nil && u.User != nil && (u.User.Username() != "" || func() bool { _, ok := u.User.Password(); return ok }())
}
