// Package nodetest finds the npm packages that Go tests run with node:
// real peers installed in e2e/ by `npm ci` (standardwebhooks,
// @modelcontextprotocol/server-everything, playwright-core).
package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// E2EDir is the repository's e2e directory, found from the test's package
// directory upwards.
func E2EDir() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "e2e")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "e2e"
		}
		dir = parent
	}
}

// Missing says why node or the file rel (under e2e/node_modules) is not
// there, or "" if both are.
func Missing(rel string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not on PATH"
	}
	if _, err := os.Stat(filepath.Join(E2EDir(), "node_modules", rel)); err != nil {
		return "npm " + filepath.Dir(rel) + " is not installed: run `npm ci` in e2e/"
	}
	return ""
}

// Require returns the path of rel under e2e/node_modules, or skips the test
// if node or the package is missing, unless HYPONEMA_E2E is set (as
// .ci/run does), in which case it fails.
func Require(t testing.TB, rel string) string {
	t.Helper()
	if why := Missing(rel); why != "" {
		if os.Getenv("HYPONEMA_E2E") != "" {
			t.Fatalf("HYPONEMA_E2E is set but %s", why)
		}
		t.Skipf("skipped: %s (.ci/run installs it and sets HYPONEMA_E2E=1)", why)
	}
	return filepath.Join(E2EDir(), "node_modules", rel)
}
