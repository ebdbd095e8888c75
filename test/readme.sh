#!/usr/bin/env bash
# The documentation's examples run as written and show real output. For each
# page (README.md, docs/seed-chapter.md), every ```sql block runs, in order, in
# one fresh database of its own, one psql session per block; a ```text block
# right after a ```sql block is the output the page shows, and must be what
# psql printed (test/docblocks.py compare: lines in order, widths, times and
# ids aside). One TAP result per block.
# Usage (needs a server to connect to): test/readme.sh [PAGE...]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
[ $# -gt 0 ] || set -- README.md docs/seed-chapter.md
pass=0; fail=0
for page in "$@"; do
	db=stategraph_doc_$(basename "$page" .md | tr -c 'a-zA-Z0-9\n' _ | tr 'A-Z' 'a-z')
	psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 2
	dir=$(mktemp -d)
	$PY test/docblocks.py split "$page" "$dir" || exit 2
	for f in "$dir"/*.sql; do
		b=${f%.sql}
		name="$page block $(basename "$b") ($(cat "$b.title"))"
		if ! psql -X -q -d "$db" -v ON_ERROR_STOP=1 -f "$f" >"$b.stdout" 2>"$b.stderr"; then
			fail=$((fail + 1)); echo "not ok $((pass + fail)) - $name"
			sed 's/^/#   /' "$b.stderr"
		elif [ -f "$b.out" ] && ! why=$($PY test/docblocks.py compare "$b.out" "$b.stdout" "$b.stderr"); then
			fail=$((fail + 1)); echo "not ok $((pass + fail)) - $name: output as shown"
			echo "#   $why"
			sed 's/^/#   printed: /' "$b.stdout" | head -40
		else
			pass=$((pass + 1)); echo "ok $((pass + fail)) - $name"
		fi
	done
	rm -rf "$dir"
done
echo "1..$((pass + fail))"
[ "$fail" -eq 0 ]
