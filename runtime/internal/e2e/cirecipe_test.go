package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"smartrouter/format"
)

// The CI recipe of docs/ci.md: the script every workflow calls, the
// workflows, and the fixtures it runs on.
const (
	repoRoot   = "../../.."
	recipe     = repoRoot + "/docs/ci/build-snapshot.sh"
	githubFlow = repoRoot + "/docs/ci/github-actions.yml"
	gitlabFlow = repoRoot + "/docs/ci/gitlab-ci.yml"
	smallInst  = repoRoot + "/fixtures/small"
	nextInst   = repoRoot + "/fixtures/small-next"
	recipeSDE  = "1700000000" // 2023-11-14T22:13:20Z
)

// recipeRun is one run of the recipe script.
type recipeRun struct {
	out    string // OUT_DIR
	output string // stdout and stderr
	err    error
}

func (r *recipeRun) file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.out, name))
	if err != nil {
		t.Fatalf("%v\nrecipe output:\n%s", err, r.output)
	}
	return b
}

// runRecipe runs docs/ci/build-snapshot.sh with sh in work, with the given
// variables on top of a clean recipe environment.
func runRecipe(t *testing.T, work string, vars ...string) *recipeRun {
	t.Helper()
	script, err := filepath.Abs(recipe)
	if err != nil {
		t.Fatal(err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains([]string{"SOURCE_DATE_EPOCH", "ROUTERC", "ROUTERD_BIN", "PREVIOUS_SNAPSHOT", "DISCOVER", "CONFIG_DIR", "CACHE_DIR", "OUT_DIR", "BIN_DIR", "SMARTROUTER_SRC", "FORBID_LITERAL_SECRETS", "GO_BUILD_FLAGS"}, name)
	})
	// The test's own go build flags, so that the build cache of the test
	// binary's dependencies is reused (the recipe's default is -trimpath).
	env = append(env, "GO_BUILD_FLAGS=", "SOURCE_DATE_EPOCH="+recipeSDE, "DISCOVER=0")
	env = append(env, vars...)
	cmd := exec.Command("sh", script)
	cmd.Dir = work
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	r := &recipeRun{output: out.String(), err: err}
	for _, v := range vars {
		if d, ok := strings.CutPrefix(v, "OUT_DIR="); ok {
			r.out = filepath.Join(work, d)
		}
	}
	return r
}

// installation lays fixtures/small (and, for next, the fixtures/small-next
// overlay) into work/name and returns name.
func installation(t *testing.T, work, name string, next bool) string {
	t.Helper()
	dir := filepath.Join(work, name)
	if err := os.CopyFS(dir, os.DirFS(smallInst)); err != nil {
		t.Fatal(err)
	}
	if next {
		for _, rel := range []string{"config/router_config.yaml", "cache/pricing_cache.json"} {
			b, err := os.ReadFile(filepath.Join(nextInst, rel))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return name
}

// TestCIRecipe runs the CI recipe (docs/ci/build-snapshot.sh) as a
// workflow would: on fixtures/small with no previous snapshot, then on its
// next version (fixtures/small-next) against the first snapshot, twice,
// and checks each promise of docs/ci.md: the binaries are built, the
// snapshot is verified, the change summary names the changes, the second
// run gives the same bytes, and routerd is bundled with the snapshot.
func TestCIRecipe(t *testing.T) {
	work := t.TempDir()
	v1 := installation(t, work, "v1", false)
	v2 := installation(t, work, "v2", true)
	cfg := func(inst string) []string {
		return []string{"CONFIG_DIR=" + inst + "/config", "CACHE_DIR=" + inst + "/cache", "BIN_DIR=bin"}
	}
	first := runRecipe(t, work, append(cfg(v1), "OUT_DIR=out1")...)
	prev := "PREVIOUS_SNAPSHOT=" + filepath.Join(work, "out1", "router.snap")
	// The second run reuses the binaries of the first; the third builds them
	// again, after the inputs' file times changed.
	second := runRecipe(t, work, append(cfg(v2), "OUT_DIR=out2", prev, "ROUTERC=bin/routerc", "ROUTERD_BIN=bin/routerd")...)
	later := time.Now().Add(time.Hour)
	for _, rel := range []string{"config/router_config.yaml", "cache/discovered_models.json"} {
		if err := os.Chtimes(filepath.Join(work, v2, rel), later, later); err != nil {
			t.Fatal(err)
		}
	}
	third := runRecipe(t, work, append(cfg(v2), "OUT_DIR=out3", prev)...)
	routerc := filepath.Join(work, "bin", "routerc")

	t.Run("build", func(t *testing.T) {
		for _, b := range []string{"routerc", "routerd"} {
			fi, err := os.Stat(filepath.Join(work, "bin", b))
			if err != nil || fi.Mode()&0o111 == 0 {
				t.Errorf("%s was not built (%v):\n%s", b, err, first.output)
			}
		}
		// routerd carries its runtime setting (cmd/routerd/godebug.txt).
		out, err := exec.Command("go", "version", "-m", filepath.Join(work, "bin", "routerd")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-X=runtime.godebugDefault=schedtrace=") {
			t.Errorf("routerd was not built with its runtime setting (%v):\n%s", err, out)
		}
	})

	t.Run("verify", func(t *testing.T) {
		for _, r := range []*recipeRun{first, second, third} {
			snap := filepath.Join(r.out, "router.snap")
			if !strings.Contains(r.output, snap+": valid snapshot") {
				t.Errorf("the recipe did not verify %s:\n%s", snap, r.output)
			}
			if out, err := exec.Command(routerc, "verify", snap).CombinedOutput(); err != nil {
				t.Errorf("routerc verify %s: %v\n%s", snap, err, out)
			}
		}
		s, err := format.Open(second.file(t, "router.snap"))
		if err != nil {
			t.Fatal(err)
		}
		if h := s.Header(); h.BuildTime != 1700000000*int64(time.Second) || h.Generation != 1 {
			t.Errorf("build time %d, generation %d; want SOURCE_DATE_EPOCH and 1", h.BuildTime, h.Generation)
		}
		if len(s.Channels()) != 8 || s.NumModels() != 29 {
			t.Errorf("the snapshot of the next version has %d channels and %d models, want 8 and 29", len(s.Channels()), s.NumModels())
		}
	})

	t.Run("summary", func(t *testing.T) {
		if got := string(first.file(t, "changes.txt")); !strings.Contains(got, "no previous snapshot") {
			t.Errorf("first run's changes.txt: %q", got)
		}
		txt := string(second.file(t, "changes.txt"))
		for _, want := range []string{
			"snapshot changes: channels +1 -1 ~1 · models +2 -1 · pairs +2 -1 · prices ~4 · settings ~2",
			"channels added (1): mistral_new\n",
			"channels removed (1): anthropic_off\n",
			"~ deepseek_main: priority: 2 -> 7\n",
			"models added (2): codestral-latest, mistral-small-latest\n",
			"models removed (1): claude-3-haiku-20240307\n",
			"~ relay_oneapi gpt-4o-mini: input $0.180000/M -> $0.200000/M\n",
			"~ groq_fast llama-3.1-8b-instant: input $0.050000/M -> $0.060000/M\n",
			"~ default_strategy: \"cost_first\" -> \"balanced\"\n",
			"~ max_retry_attempts: 4 -> 5\n",
		} {
			if !strings.Contains(txt, want) {
				t.Errorf("changes.txt lacks %q:\n%s", want, txt)
			}
		}
		if !strings.Contains(second.output, txt) {
			t.Errorf("the summary is not in the CI log:\n%s", second.output)
		}
		md := string(second.file(t, "changes.md"))
		for _, want := range []string{"### Router snapshot changes", "**Channels added (1):** `mistral_new`", "| `relay_oneapi` | `gpt-4o-mini` | $0.180000/M → $0.200000/M |"} {
			if !strings.Contains(md, want) {
				t.Errorf("changes.md lacks %q:\n%s", want, md)
			}
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		for _, name := range []string{"router.snap", "changes.txt", "changes.md"} {
			if !bytes.Equal(second.file(t, name), third.file(t, name)) {
				t.Errorf("%s differs between two runs on the same inputs", name)
			}
		}
	})

	// A previous snapshot that cannot be read does not block the release.
	t.Run("previous unreadable", func(t *testing.T) {
		bad := filepath.Join(work, "corrupt.snap")
		if err := os.WriteFile(bad, []byte("not a snapshot"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runRecipe(t, work, append(cfg(v2), "OUT_DIR=out4", "PREVIOUS_SNAPSHOT="+bad, "ROUTERC=bin/routerc", "ROUTERD_BIN=bin/routerd")...)
		if !strings.Contains(r.output, "warning: the previous snapshot "+bad+" could not be compared") {
			t.Errorf("no warning about the unreadable previous snapshot:\n%s", r.output)
		}
		if got := string(r.file(t, "changes.txt")); !strings.Contains(got, "could not be compared") {
			t.Errorf("changes.txt: %q", got)
		}
		if !bytes.Equal(r.file(t, "router.snap"), second.file(t, "router.snap")) {
			t.Error("the snapshot differs from the one compiled with a readable previous snapshot")
		}
	})

	// The bundle step runs "routerc bundle -snapshot FILE -routerd BIN -o
	// OUT"; until that command exists every run stops there.
	t.Run("bundle", func(t *testing.T) {
		for _, r := range []*recipeRun{first, second, third} {
			if r.err != nil {
				t.Fatalf("the recipe failed (%v):\n%s", r.err, r.output)
			}
		}
		routerdBin, err := os.ReadFile(filepath.Join(work, "bin", "routerd"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*recipeRun{second, third} {
			bundled, snap := r.file(t, "routerd-bundled"), r.file(t, "router.snap")
			if !bytes.HasPrefix(bundled, routerdBin) {
				t.Errorf("%s/routerd-bundled does not start with routerd", r.out)
			}
			if off := bytes.Index(bundled[min(len(routerdBin), len(bundled)):], snap); off < 0 || (len(routerdBin)+off)%4096 != 0 {
				t.Errorf("%s/routerd-bundled does not hold the snapshot at a page-aligned offset (found at %d)", r.out, off)
			}
			if fi, err := os.Stat(filepath.Join(r.out, "routerd-bundled")); err != nil || fi.Mode()&0o111 == 0 {
				t.Errorf("routerd-bundled is not executable (%v)", err)
			}
			sums := string(r.file(t, "SHA256SUMS"))
			for _, name := range []string{"router.snap", "routerd-bundled", "changes.txt"} {
				h := sha256.Sum256(r.file(t, name))
				if !strings.Contains(sums, hex.EncodeToString(h[:])+"  "+name+"\n") {
					t.Errorf("SHA256SUMS lacks the right line for %s:\n%s", name, sums)
				}
			}
		}
		if !bytes.Equal(second.file(t, "routerd-bundled"), third.file(t, "routerd-bundled")) {
			t.Error("routerd-bundled differs between two runs on the same inputs")
		}

		// Started with no flag but its address, the bundled binary serves
		// the snapshot inside it: the next version's 8 channels and 29
		// models, built at SOURCE_DATE_EPOCH (the demo has 5 and 9).
		t.Setenv("ROUTER_API_TOKEN", "ci-recipe-token")
		t.Setenv("ROUTER_ADMIN_TOKEN", "ci-recipe-admin")
		saved := routerd
		routerd = filepath.Join(second.out, "routerd-bundled")
		p := startRouterd(t)
		routerd = saved
		if p.url == "" {
			t.Fatalf("the bundled routerd did not start:\n%s", p.logText())
		}
		h := p.get("/health")
		snap, _ := h["snapshot"].(map[string]any)
		if h["channels"] != float64(8) || h["models"] != float64(29) || snap["built_at"] != "2023-11-14T22:13:20Z" {
			t.Errorf("the bundled routerd does not serve its snapshot: /health %v", h)
		}
	})
}

// TestCIRecipeRefusesBadInput checks that the recipe stops before building
// anything when its variables are wrong, and says which.
func TestCIRecipeRefusesBadInput(t *testing.T) {
	work := t.TempDir()
	for _, tc := range []struct {
		vars []string
		want string
	}{
		{[]string{"CONFIG_DIR=nowhere"}, "CONFIG_DIR=nowhere is not a folder"},
		{[]string{"CONFIG_DIR=.", "DISCOVER=yes"}, "DISCOVER=yes: use 0 or 1"},
		{[]string{"CONFIG_DIR=.", "FORBID_LITERAL_SECRETS=true"}, "FORBID_LITERAL_SECRETS=true: use 0 or 1"},
		{[]string{"CONFIG_DIR=.", "OUT_DIR=out", "SMARTROUTER_SRC=" + work}, "is not the smartrouter source tree"},
	} {
		r := runRecipe(t, work, tc.vars...)
		if r.err == nil || !strings.Contains(r.output, tc.want) {
			t.Errorf("%q: err %v, output %q; want a failure saying %q", tc.vars, r.err, r.output, tc.want)
		}
	}
}

// scriptVariables returns the variables the recipe documents in its header
// comment ("#   NAME   ...").
func scriptVariables(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, m := range regexp.MustCompile(`(?m)^#   ([A-Z][A-Z0-9_]+)\s`).FindAllStringSubmatch(string(b), -1) {
		vars = append(vars, m[1])
	}
	return vars
}

// shellCommands splits shell lines into commands (at newlines, ;, &&, ||,
// | and braces) and returns the first word of each.
func shellCommands(script string) []string {
	var out []string
	for _, c := range regexp.MustCompile(`\n|;|&&|\|\||\||\{|\}`).Split(script, -1) {
		if f := strings.Fields(c); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// checkWorkflow checks the shell of one workflow: it calls the recipe
// script, never routerc or routerd itself (so every recipe command is
// written once, in the script), and sets only variables the script reads.
func checkWorkflow(t *testing.T, name string, scripts []string, vars map[string]any) {
	t.Helper()
	documented := scriptVariables(t)
	calls := false
	for _, s := range scripts {
		for _, c := range shellCommands(s) {
			if base := filepath.Base(c); base == "routerc" || base == "routerd" {
				t.Errorf("%s runs %s directly (%q); put the command in docs/ci/build-snapshot.sh", name, base, s)
			}
		}
		if strings.Contains(s, "sh .smartrouter/docs/ci/build-snapshot.sh") {
			calls = true
		}
	}
	if !calls {
		t.Errorf("%s never runs docs/ci/build-snapshot.sh", name)
	}
	for v := range vars {
		if !slices.Contains(documented, v) {
			t.Errorf("%s sets %s for the recipe, which the script does not document", name, v)
		}
	}
}

// TestCIWorkflows parses the GitHub Actions and GitLab CI files and checks
// that they run the recipe script and nothing of routerc besides, and that
// the script runs every step of the recipe.
func TestCIWorkflows(t *testing.T) {
	b, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"$ROUTERC" discover `, `"$ROUTERC" compile `, ` -reproducible`, `"$ROUTERC" verify `, `"$ROUTERC" diff -summary `, `"$ROUTERC" diff -format markdown `, `"$ROUTERC" bundle -snapshot `, `go build `} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the recipe script lacks %q", want)
		}
	}

	t.Run("github", func(t *testing.T) {
		var wf struct {
			On   map[string]any `yaml:"on"`
			Jobs map[string]struct {
				Steps []struct {
					Name string            `yaml:"name"`
					Uses string            `yaml:"uses"`
					Run  string            `yaml:"run"`
					Env  map[string]string `yaml:"env"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		raw, err := os.ReadFile(githubFlow)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &wf); err != nil {
			t.Fatalf("%s does not parse: %v", githubFlow, err)
		}
		if len(wf.Jobs) == 0 || wf.On["pull_request"] == nil || wf.On["push"] == nil {
			t.Fatalf("%s: no jobs or triggers: %+v", githubFlow, wf)
		}
		var scripts []string
		vars := map[string]any{}
		for _, j := range wf.Jobs {
			for _, s := range j.Steps {
				if s.Run == "" && s.Uses == "" {
					t.Errorf("step %q neither runs nor uses anything", s.Name)
				}
				scripts = append(scripts, s.Run)
				if strings.Contains(s.Run, "build-snapshot.sh") {
					for k := range s.Env {
						vars[k] = true
					}
				}
			}
		}
		checkWorkflow(t, githubFlow, scripts, vars)
	})

	t.Run("gitlab", func(t *testing.T) {
		var wf map[string]any
		raw, err := os.ReadFile(gitlabFlow)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &wf); err != nil {
			t.Fatalf("%s does not parse: %v", gitlabFlow, err)
		}
		job, ok := wf["router-snapshot"].(map[string]any)
		if !ok {
			t.Fatalf("%s has no router-snapshot job", gitlabFlow)
		}
		var scripts []string
		for _, s := range job["script"].([]any) {
			scripts = append(scripts, s.(string))
		}
		vars, _ := job["variables"].(map[string]any)
		for _, r := range job["rules"].([]any) {
			if rv, ok := r.(map[string]any)["variables"].(map[string]any); ok {
				for k, v := range rv {
					vars[k] = v
				}
			}
		}
		if a, ok := job["artifacts"].(map[string]any); !ok || !slices.Contains(a["paths"].([]any), any("dist/")) {
			t.Errorf("the job does not keep dist/ as its artifact")
		}
		checkWorkflow(t, gitlabFlow, scripts, vars)
	})
}
