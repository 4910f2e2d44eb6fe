#!/usr/bin/env bash
# readme_test.sh — runs every command of README.md's ```sh blocks (but
# `make ...`) in order, in a scratch folder holding `bin`, `configs` and `examples`,
# so the README's examples stay true. A command exits 0 unless its comment
# says "(exit N)". A command spans lines while a line ends in a backslash,
# leaves a double quote open, or opens a here-document (to its terminator).
set -u
BIN=${BIN:-bin}
top=$(cd "$(dirname "$0")/.." && pwd)
case $BIN in /*) bin=$BIN ;; *) bin=$top/$BIN ;; esac
work=$(mktemp -d /tmp/kb_readme_XXXXXX)
trap 'rm -rf "$work"' EXIT
ln -s "$bin" "$work/bin"
ln -s "$top/configs" "$work/configs"
ln -s "$top/examples" "$work/examples"
pass=0 fail=0
# one command per NUL-terminated record
awk '
	/^```sh/ { inblock = 1; next }
	/^```/ { inblock = 0; next }
	!inblock { next }
	{
		line = $0
		if (heredoc != "") { # a here-document runs to its terminator
			cmd = cmd "\n" line
			if (line == heredoc) heredoc = ""
			if (heredoc != "") next
			printf "%s%c", cmd, 0
			cmd = ""; quotes = 0
			next
		}
		if (cmd == "" && (line ~ /^[ \t]*#/ || line ~ /^[ \t]*$/)) next
		cmd = cmd == "" ? line : cmd "\n" line
		if (match(line, /<<-?\047?[A-Za-z_]+\047?/)) {
			heredoc = substr(line, RSTART, RLENGTH)
			sub(/^<<-?\047?/, "", heredoc); sub(/\047?$/, "", heredoc)
			next
		}
		q = gsub(/"/, "\"", line)
		quotes += q
		if (line ~ /\\$/ || quotes % 2) next
		printf "%s%c", cmd, 0
		cmd = ""; quotes = 0
	}' "$top/README.md" >"$work/.cmds"
while IFS= read -r -d '' cmd; do
	case $cmd in make\ *) continue ;; esac
	want=0
	if [[ $cmd =~ \(exit\ ([0-9]+)\) ]]; then want=${BASH_REMATCH[1]}; fi
	(cd "$work" && timeout 600 bash -c "$cmd") >"$work/.out" 2>"$work/.err"
	got=$?
	if [ "$got" = "$want" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL (exit $got, wanted $want): $cmd"
		tail -3 "$work/.err"
	fi
done <"$work/.cmds"
echo "readme: $pass commands ran as written, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 20 ]
