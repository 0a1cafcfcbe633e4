#!/bin/sh
# build-snapshot.sh: the CI recipe of smartrouter (docs/ci.md), written once
# and called by the GitHub Actions and GitLab CI workflows beside it.
#
#   build routerc and routerd -> [discover] -> compile -reproducible -> verify
#   -> change summary against the previous snapshot -> bundle -> checksums
#
# Everything is set through the environment (all optional):
#   CONFIG_DIR          the installation's config folder              (config)
#   CACHE_DIR           the installation's cache folder               (cache)
#   OUT_DIR             where the artifacts are written               (dist)
#   PREVIOUS_SNAPSHOT   the snapshot published last time; compared with the
#                       new one when the file exists                  (none)
#   DISCOVER            1: refresh the discovery cache first with
#                       `routerc discover` (needs the channels' keys in the
#                       environment and network access); 0: use CACHE_DIR
#                       as it is                                      (0)
#   SOURCE_DATE_EPOCH   build time recorded in the snapshot, seconds since
#                       1970 (the commit time of HEAD when the working
#                       folder is a git checkout, else unset: build time 0)
#   FORBID_LITERAL_SECRETS  1: refuse keys written in the config instead of
#                       ${ENV} references                             (0)
#   SMARTROUTER_SRC     the smartrouter source tree to build from
#                       (the folder two levels above this script)
#   BIN_DIR             where routerc and routerd are built           (OUT_DIR/../bin)
#   GO_BUILD_FLAGS      flags of `go build`                           (-trimpath)
#   ROUTERC             a routerc binary to use instead of building one
#   ROUTERD_BIN         a routerd binary to bundle instead of building one
#
# Artifacts in OUT_DIR:
#   router.snap         the verified snapshot (routerd -snapshot router.snap)
#   routerd-bundled     routerd with the snapshot inside (routerc bundle)
#   changes.txt         the change summary (routerc diff -summary)
#   changes.md          the same in Markdown, for a pull request or job summary
#   SHA256SUMS          checksums of the three files above
#
# Exit status: 0 when every step succeeded; otherwise the status of the
# failed step, after a line saying which step failed.
set -eu

CONFIG_DIR=${CONFIG_DIR:-config}
CACHE_DIR=${CACHE_DIR:-cache}
OUT_DIR=${OUT_DIR:-dist}
PREVIOUS_SNAPSHOT=${PREVIOUS_SNAPSHOT:-}
DISCOVER=${DISCOVER:-0}
FORBID_LITERAL_SECRETS=${FORBID_LITERAL_SECRETS:-0}
GO_BUILD_FLAGS=${GO_BUILD_FLAGS--trimpath}

say() { printf '==> %s\n' "$*"; }
fail() { printf 'build-snapshot: %s\n' "$*" >&2; exit 1; }
# step NAME COMMAND...: runs the command, names the step when it fails.
step() {
	name=$1
	shift
	if "$@"; then return 0; else rc=$?; fi
	printf 'build-snapshot: step "%s" failed (exit %d)\n' "$name" "$rc" >&2
	exit "$rc"
}

case $DISCOVER in 0 | 1) ;; *) fail "DISCOVER=$DISCOVER: use 0 or 1" ;; esac
case $FORBID_LITERAL_SECRETS in 0 | 1) ;; *) fail "FORBID_LITERAL_SECRETS=$FORBID_LITERAL_SECRETS: use 0 or 1" ;; esac
[ -d "$CONFIG_DIR" ] || fail "CONFIG_DIR=$CONFIG_DIR is not a folder; point it at the installation's config/"
mkdir -p "$CACHE_DIR" "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
BIN_DIR=${BIN_DIR:-$(dirname "$OUT_DIR")/bin}
mkdir -p "$BIN_DIR"
BIN_DIR=$(cd "$BIN_DIR" && pwd)

# 1. Build routerc and routerd (unless given).
if [ -z "${ROUTERC:-}" ] || [ -z "${ROUTERD_BIN:-}" ]; then
	SMARTROUTER_SRC=${SMARTROUTER_SRC:-$(dirname "$0")/../..}
	[ -f "$SMARTROUTER_SRC/go.mod" ] || fail "SMARTROUTER_SRC=$SMARTROUTER_SRC is not the smartrouter source tree (no go.mod)"
	command -v go >/dev/null 2>&1 || fail "the go command is not on PATH; install Go (see go.mod for the version) or give ROUTERC and ROUTERD_BIN"
	if [ -z "${ROUTERC:-}" ]; then
		say "build routerc"
		# shellcheck disable=SC2086 # GO_BUILD_FLAGS is a list of flags
		step "build routerc" sh -c 'cd "$1" && shift && exec go build "$@" ./cmd/routerc' sh "$SMARTROUTER_SRC" $GO_BUILD_FLAGS -o "$BIN_DIR/routerc"
		ROUTERC=$BIN_DIR/routerc
	fi
	if [ -z "${ROUTERD_BIN:-}" ]; then
		say "build routerd"
		# shellcheck disable=SC2086
		# routerd's runtime setting (cmd/routerd/godebug.txt), compiled in as
		# its default GODEBUG; an -ldflags in GO_BUILD_FLAGS replaces it.
		godebug=$(cat "$SMARTROUTER_SRC/cmd/routerd/godebug.txt") || fail "cannot read cmd/routerd/godebug.txt in SMARTROUTER_SRC=$SMARTROUTER_SRC"
		step "build routerd" sh -c 'cd "$1" && shift && exec go build "$@" ./cmd/routerd' sh "$SMARTROUTER_SRC" -ldflags "-X=runtime.godebugDefault=$godebug" $GO_BUILD_FLAGS -o "$BIN_DIR/routerd"
		ROUTERD_BIN=$BIN_DIR/routerd
	fi
fi

# The recorded build time: the commit time of HEAD unless given.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && command -v git >/dev/null 2>&1; then
	if sde=$(git log -1 --format=%ct 2>/dev/null) && [ -n "$sde" ]; then
		SOURCE_DATE_EPOCH=$sde
		export SOURCE_DATE_EPOCH
	fi
fi

# 2. Discover (optional): refresh the discovery cache from the providers.
if [ "$DISCOVER" = 1 ]; then
	say "discover models"
	step "discover" "$ROUTERC" discover -config "$CONFIG_DIR" -cache "$CACHE_DIR"
fi

# 3. Compile, reproducibly: the same inputs give the same bytes.
say "compile"
snap=$OUT_DIR/router.snap
forbid=
[ "$FORBID_LITERAL_SECRETS" = 1 ] && forbid=-forbid-literal-secrets
# shellcheck disable=SC2086 # forbid is one flag or nothing
step "compile" "$ROUTERC" compile -config "$CONFIG_DIR" -cache "$CACHE_DIR" -o "$snap" -reproducible -q $forbid

# 4. Verify: full validation of the file that will be shipped.
say "verify"
step "verify" "$ROUTERC" verify "$snap"

# 5. Change summary against the previous snapshot (exit 1 means "changed").
say "changes"
if [ -n "$PREVIOUS_SNAPSHOT" ] && [ -f "$PREVIOUS_SNAPSHOT" ]; then
	rc=0
	"$ROUTERC" diff -summary "$PREVIOUS_SNAPSHOT" "$snap" >"$OUT_DIR/changes.txt" || rc=$?
	if [ "$rc" -le 1 ]; then
		"$ROUTERC" diff -format markdown "$PREVIOUS_SNAPSHOT" "$snap" >"$OUT_DIR/changes.md" || [ $? -le 1 ] || step "changes (markdown)" false
	else
		# An unreadable previous snapshot (e.g. an older format) must not
		# block the release: say so and go on.
		msg="the previous snapshot $PREVIOUS_SNAPSHOT could not be compared (routerc diff exit $rc, see the log)"
		printf 'warning: %s\n' "$msg" >&2
		printf '%s\n' "$msg" >"$OUT_DIR/changes.txt"
		printf '### Router snapshot changes\n\n%s.\n' "$msg" >"$OUT_DIR/changes.md"
	fi
else
	printf 'no previous snapshot to compare with: first build\n' >"$OUT_DIR/changes.txt"
	printf '### Router snapshot changes\n\nNo previous snapshot to compare with: first build.\n' >"$OUT_DIR/changes.md"
fi
cat "$OUT_DIR/changes.txt"

# 6. Bundle: a copy of routerd with the snapshot inside.
say "bundle"
step "bundle" "$ROUTERC" bundle -snapshot "$snap" -routerd "$ROUTERD_BIN" -o "$OUT_DIR/routerd-bundled"

# 7. Checksums of what is published.
say "checksums"
(
	cd "$OUT_DIR"
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum router.snap routerd-bundled changes.txt
	else
		shasum -a 256 router.snap routerd-bundled changes.txt
	fi
) >"$OUT_DIR/SHA256SUMS.tmp"
mv "$OUT_DIR/SHA256SUMS.tmp" "$OUT_DIR/SHA256SUMS"
say "done: $OUT_DIR"
