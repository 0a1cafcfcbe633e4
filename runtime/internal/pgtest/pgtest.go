// Package pgtest starts a real PostgreSQL server for tests: initdb into a
// folder of the test's own, postgres on a free 127.0.0.1 port with its unix
// socket in that folder and fsync off, stopped when the test ends. When the
// test runs as root (PostgreSQL refuses to), the server runs as the
// postgres user and the folder is handed to it. Missing binaries skip the
// test, unless the CI variable is set, where they fail it.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one running PostgreSQL.
type Server struct {
	t    testing.TB
	bin  string // the folder of initdb and postgres
	dir  string // data folder
	sock string // unix socket folder
	log  string
	cred *syscall.Credential // nil: run as the test's own user
	Port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

var dbSeq atomic.Int64

// findBin returns the newest /usr/lib/postgresql/*/bin holding initdb and
// postgres.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no initdb and postgres in /usr/lib/postgresql/*/bin or on PATH")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initializes a cluster, starts it, waits until it accepts a
// connection and stops it at the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is missing (%v); .ci/run installs the Debian package postgresql", err)
		}
		t.Skipf("PostgreSQL is missing (%v): install the Debian package postgresql to run this test", err)
	}
	base := t.TempDir()
	s := &Server{t: t, bin: bin, dir: filepath.Join(base, "data"), sock: filepath.Join(base, "sock"), log: filepath.Join(base, "postgres.log")}
	for _, d := range []string{s.dir, s.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs another user and there is no postgres user (%v); run the tests as a non-root user", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The postgres user must reach the folder: let it through every
		// parent the test created, and own its own folders.
		for d := base; d != filepath.Dir(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
			if d == os.TempDir() {
				break
			}
			_ = os.Chmod(d, 0o711)
		}
		for _, p := range []string{s.dir, s.sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		f, err := os.Create(s.log)
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		_ = os.Chown(s.log, uid, gid)
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Port = freePort(t)
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// Restart starts the server again (after Stop) on the same port and data,
// and waits until it accepts a connection.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.dir, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.sock,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=16MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start postgres: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.url("postgres", ""))
		if err == nil {
			_ = c.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(s.log)
			s.t.Fatalf("postgres on port %d did not accept a connection (%v); its log:\n%s", s.Port, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast shutdown: open connections are cut)
// and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

func (s *Server) url(db, password string) string {
	u := "postgres://postgres"
	if password != "" {
		u += ":" + password
	}
	return u + "@127.0.0.1:" + strconv.Itoa(s.Port) + "/" + db + "?sslmode=disable"
}

// NewDatabase creates an empty database and returns its postgres:// URL.
// A non-empty password is written into the URL (the server trusts local
// connections, so it is accepted whatever it is): tests use it to check
// that no output shows it.
func (s *Server) NewDatabase(password string) string {
	s.t.Helper()
	name := fmt.Sprintf("ledger_%d", dbSeq.Add(1))
	s.Exec("postgres", "CREATE DATABASE "+name)
	return s.url(name, password)
}

// Exec runs one statement in database db.
func (s *Server) Exec(db, sql string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.url(db, ""))
	if err != nil {
		s.t.Fatalf("connect to %s: %v", db, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
