# cli_lib.sh — what the CLI test scripts share: the tools, a scratch
# folder removed at exit, check (a named condition) and expect (exit code,
# one stderr line holding a text). Sourced, not run.
set -u
BIN=${BIN:-bin}
kbtrace() { "$BIN/kb-trace" --force --quiet "$@"; } # tests rewrite their files (the refusal is tested below), quietly
TRACE=kbtrace
TIME="$BIN/kb-time"
REPLAY="$BIN/kb-replay"
REPORT="$BIN/kb-report"
DIFF="$BIN/kb-diff"
dir=$(mktemp -d /tmp/kb_cli_XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0

check() { # name, condition result (0 = ok)
	if [ "$2" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}

# expect CODE "stderr substring" -- args...   (runs kb-trace, or $TOOL if set;
# an error, exit 2 or 3, is one line on stderr)
expect() {
	local code=$1 want=$2; shift 3
	"${TOOL:-$TRACE}" "$@" >"$dir/out" 2>"$dir/err"
	local got=$?
	local lines
	lines=$(wc -l <"$dir/err")
	if [ "$got" != "$code" ]; then check "kb-trace $* exited $got, wanted $code ($(cat "$dir/err"))" 1; return; fi
	if [ -n "$want" ] && ! grep -qF -- "$want" "$dir/err"; then
		check "kb-trace $*: stderr lacks '$want': $(cat "$dir/err")" 1; return
	fi
	if [ "$code" -ge 2 ] && [ "$lines" != 1 ]; then check "kb-trace $*: $lines error lines" 1; return; fi
	check "kb-trace $*" 0
}

