#!/usr/bin/env bash
# Runs every ```sql block of README.md, in order, in one fresh database, and
# reports one result per block: README's examples must run as written.
# Usage (needs a server to connect to, e.g. under pg_virtualenv): test/readme.sh
set -uo pipefail
cd "$(dirname "$0")/.."
DB=stategraph_readme
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null || exit 2
dir=$(mktemp -d)
awk -v dir="$dir" '
	/^```sql[[:space:]]*$/ { n++; file = sprintf("%s/%03d.sql", dir, n); inblock = 1; next }
	/^```/ && inblock { inblock = 0; close(file); next }
	inblock { print > file }
' README.md
pass=0; fail=0
for f in "$dir"/*.sql; do
	if out=$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -f "$f" 2>&1 >/dev/null); then
		pass=$((pass + 1)); echo "ok $((pass + fail)) - README block $(basename "$f" .sql)"
	else
		fail=$((fail + 1)); echo "not ok $((pass + fail)) - README block $(basename "$f" .sql)"
		echo "$out" | sed 's/^/#   /'
	fi
done
rm -rf "$dir"
echo "1..$((pass + fail))"
[ "$fail" -eq 0 ]
