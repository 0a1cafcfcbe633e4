package servertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithRouterd is a TestMain body for the tests that run routerd
// processes: it builds cmd/routerd into a new temporary folder, stores the
// binary's path in *routerd, runs the tests and removes the folder. It
// returns the exit code; a build that fails (the go command must be on
// PATH) fails the whole package, naming why.
func MainWithRouterd(m *testing.M, routerd *string) int {
	dir, err := os.MkdirTemp("", "routerd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "these tests build routerd and need the go command on PATH:", err)
		return 1
	}
	*routerd = filepath.Join(dir, "routerd")
	build := exec.Command(gobin, "build", "-o", *routerd, "smartrouter/cmd/routerd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build routerd:", err)
		return 1
	}
	return m.Run()
}
