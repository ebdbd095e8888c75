#!/usr/bin/env bash
# The documentation's examples run as written and show real output. For each
# page (README.md, docs/seed-chapter.md), every ```sql block runs, in order, in
# one fresh database of its own, one psql session per block; a ```text (or plain ```) block
# right after a ```sql block is the output the page shows, and must be what
# psql printed (test/docblocks.py compare: lines in order, widths, times and
# ids aside). One TAP result per block.
# Usage (needs a server to connect to): test/readme.sh [PAGE...]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
[ $# -gt 0 ] || set -- README.md docs/seed-chapter.md
pass=0; fail=0
# roles are the cluster's: those the pages create (README's Security section)
# that did not exist before are dropped at the end, so that the pages run
# again on the same server, and the server keeps no role of theirs
roles_before=$(psql -X -At -d postgres -c "SELECT rolname FROM pg_catalog.pg_roles") || exit 2
# ... and must not exist yet: one made by following Security by hand would
# fail its blocks, and those after it, with "already exists"
taken=""
for role in $(sed -n 's/^CREATE \(ROLE\|USER\) \([a-z_][a-z0-9_]*\)[ ;].*/\2/p' "$@" | sort -u); do
	grep -qx "$role" <<<"$roles_before" && taken="$taken $role"
done
if [ -n "$taken" ]; then
	echo "not ok 1 - the roles the pages create do not exist yet on this server"
	echo "#   they exist:$taken (made by following README's Security by hand?): drop them"
	echo "#   (DROP OWNED BY in each database where they own things, then DROP ROLE), or use another server"
	echo "1..1"
	exit 1
fi
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
	# the seed chapter's page and its pg_regress test (sql/seed.sql) cover the same examples
	if [ "$page" = docs/seed-chapter.md ]; then
		if why=$($PY - "$page" sql/seed.sql <<-'PY'
			import re, sys
			page, test = (open(f, encoding="utf-8").read() for f in sys.argv[1:])
			examples = [re.split(r"[(:]", h)[0].strip() for h in re.findall(r"^### (.*)$", page, re.M)]
			tested = re.findall(r"^-- ([a-z_]+)\(\)", test, re.M)
			missing = [e for e in examples if e.lower() not in test.lower()]
			missing += [t for t in tested if t not in examples]
			print(", ".join(missing))
			sys.exit(1 if missing or not examples else 0)
			PY
		); then
			pass=$((pass + 1)); echo "ok $((pass + fail)) - $page and sql/seed.sql have the same examples"
		else
			fail=$((fail + 1)); echo "not ok $((pass + fail)) - $page and sql/seed.sql have the same examples"
			echo "#   in one but not the other: $why"
		fi
	fi
	# README's reference lists every function of the extension's schema
	if [ "$page" = README.md ]; then
		reference=$(awk '/^### Functions/ { on = 1; next } /^##/ { on = 0 } on' README.md)
		missing=""
		for fn in $(psql -X -At -d "$db" -c "
			SELECT DISTINCT p.proname FROM pg_catalog.pg_proc p
			JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
			JOIN pg_catalog.pg_extension e ON d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid
			WHERE e.extname = 'stategraph' AND p.pronamespace = e.extnamespace ORDER BY 1"); do
			grep -q "\`\(CALL \)\?$fn(" <<<"$reference" && continue
			# a draft in docs/readme/ (a section the lead folds into README) may document it first
			if cat docs/readme/*.md 2>/dev/null | grep -q "\`\(CALL \)\?$fn("; then
				echo "# $fn: documented in a docs/readme/ draft, not yet in README's reference"
			else
				missing="$missing $fn"
			fi
		done
		if [ -z "$missing" ] && [ -n "$reference" ]; then
			pass=$((pass + 1)); echo "ok $((pass + fail)) - README's reference (### Functions) lists every function of the extension"
		else
			fail=$((fail + 1)); echo "not ok $((pass + fail)) - README's reference (### Functions) lists every function of the extension"
			echo "#   missing:${missing:- the section}"
		fi
		# ... and names every function of schema stategraph but the trigger
		# functions: sweep_leases in its table, the others as internals
		missing=""
		for fn in $(psql -X -At -d "$db" -c "
			SELECT p.proname FROM pg_catalog.pg_proc p
			WHERE p.pronamespace OPERATOR(pg_catalog.=) 'stategraph'::pg_catalog.regnamespace
			  AND p.prorettype OPERATOR(pg_catalog.<>) 'pg_catalog.trigger'::pg_catalog.regtype ORDER BY 1"); do
			grep -q '`\(stategraph\.\)\?'"$fn"'[`(]' <<<"$reference" || missing="$missing $fn"
		done
		if [ -z "$missing" ]; then
			pass=$((pass + 1)); echo "ok $((pass + fail)) - README's reference names every function of schema stategraph"
		else
			fail=$((fail + 1)); echo "not ok $((pass + fail)) - README's reference names every function of schema stategraph"
			echo "#   missing:$missing"
		fi
		# ... and its Project section's source layout names every file of src/
		missing=""
		project=$(awk '/^## Project/ { on = 1; next } /^## / { on = 0 } on' README.md)
		for f in src/*.c; do
			grep -q "\`\(src/\)\?$(basename "$f")\`" <<<"$project" || missing="$missing $(basename "$f")"
		done
		if [ -z "$missing" ] && [ -n "$project" ]; then
			pass=$((pass + 1)); echo "ok $((pass + fail)) - README's source layout (## Project) names every file of src/"
		else
			fail=$((fail + 1)); echo "not ok $((pass + fail)) - README's source layout (## Project) names every file of src/"
			echo "#   missing:${missing:- the section}"
		fi
		# ... and every test it cites ("TAP `NNN_name`", "isolation `spec`",
		# "pg_regress `name`", "pgTAP `name`"; TAP "`115`-`122`": by number) exists, so
		# that a renamed or removed test leaves no dead reference
		if why=$($PY - README.md <<-'PY'
			import glob, os, re, sys
			text = open(sys.argv[1], encoding="utf-8").read()
			have = {"TAP": [os.path.basename(f)[:-3] for f in glob.glob("test/t/*.pl")],
			        "isolation": [os.path.basename(f)[:-5] for f in glob.glob("test/specs/*.spec")],
			        "pg_regress": [os.path.basename(f)[:-4] for f in glob.glob("sql/*.sql")],
			        "pgTAP": [os.path.basename(f)[:-4] for f in glob.glob("test/pgtap/*.sql")]}
			dead, cited = [], 0
			for m in re.finditer(r"\b(TAP|isolation|pg_regress|pgTAP)((?:,?\s+(?:and\s+|or\s+)?`[^`]+`)+)", text):
			    for name in re.findall(r"`([^`]+)`", m.group(2)):
			        cited += 1
			        n = re.sub(r"\.(pl|spec|sql)$", "", name.split("/")[-1])
			        if n not in have[m.group(1)] and not (n.isdigit() and any(t.startswith(n + "_") for t in have["TAP"])):
			            dead.append("%s `%s`" % (m.group(1), name))
			print(", ".join(dead) if dead else "%d cited" % cited)
			sys.exit(1 if dead or not cited else 0)
			PY
		); then
			pass=$((pass + 1)); echo "ok $((pass + fail)) - README's citations of tests name tests that exist ($why)"
		else
			fail=$((fail + 1)); echo "not ok $((pass + fail)) - README's citations of tests name tests that exist"
			echo "#   no such test: $why"
		fi
		# ... with each function's real signature, each setting's real default and
		# context, and every SQLSTATE the code raises (test/reference.py)
		for kind in functions settings errors; do
			if why=$($PY test/reference.py "$kind" README.md "$db" 2>&1); then
				pass=$((pass + 1)); echo "ok $((pass + fail)) - README's reference agrees with the extension: $kind"
			else
				fail=$((fail + 1)); echo "not ok $((pass + fail)) - README's reference agrees with the extension: $kind"
				sed 's/^/#   /' <<<"$why"
			fi
		done
	fi
done
roles_after=$(psql -X -At -d postgres -c "SELECT rolname FROM pg_catalog.pg_roles")
for role in $(sed -n 's/^CREATE \(ROLE\|USER\) \([a-z_][a-z0-9_]*\)[ ;].*/\2/p' "$@" | sort -u); do
	grep -qx "$role" <<<"$roles_before" && continue
	grep -qx "$role" <<<"$roles_after" || continue
	for page in "$@"; do
		db=stategraph_doc_$(basename "$page" .md | tr -c 'a-zA-Z0-9\n' _ | tr 'A-Z' 'a-z')
		psql -X -q -d "$db" -c "DROP OWNED BY \"$role\"" >/dev/null
	done
	psql -X -q -d postgres -c "DROP ROLE \"$role\"" >/dev/null
done
echo "1..$((pass + fail))"
[ "$fail" -eq 0 ]
