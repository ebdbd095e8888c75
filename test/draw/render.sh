#!/usr/bin/env bash
# Checks that sg_draw's dot output is valid Graphviz, and with --write renders
# the pictures README.md shows (test/draw/*.png). Needs a server to connect to
# (e.g. under pg_virtualenv) and Debian's graphviz.
set -uo pipefail
cd "$(dirname "$0")/../.."
write=${1:-}
DB=stategraph_draw
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null || exit 2
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || exit 2
CREATE EXTENSION stategraph;
CREATE FUNCTION step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION again(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'done' $$;
SELECT sg_create_graph('workflow', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('workflow', n, 'step(jsonb)') FROM unnest(ARRAY['step1', 'step2', 'step3']) n;
SELECT sg_add_edge('workflow', '__start__', 'step1'), sg_add_edge('workflow', 'step1', 'step2'),
       sg_add_edge('workflow', 'step2', 'step3'), sg_add_edge('workflow', 'step3', '__end__');
SELECT sg_compile('workflow');
SELECT sg_create_graph('routing', '{"log": "append"}');
SELECT sg_add_node('routing', n, 'step(jsonb)') FROM unnest(ARRAY['plan', 'search', 'read', 'review']) n;
SELECT sg_add_edge('routing', '__start__', 'plan'), sg_add_edge('routing', 'plan', 'search'),
       sg_add_edge('routing', 'plan', 'read'), sg_add_edge('routing', ARRAY['search', 'read'], 'review');
SELECT sg_add_conditional_edges('routing', 'review', 'again(jsonb)', '{"again": "plan", "done": "__end__"}');
SELECT sg_compile('routing');
SQL
pass=0; fail=0
for g in workflow routing; do
	if psql -X -At -d "$DB" -c "SELECT sg_draw('$g', 'dot')" | dot -Tpng -o "/tmp/stategraph-$g.png" 2>/tmp/stategraph-dot.err \
		&& [ -s "/tmp/stategraph-$g.png" ]; then
		pass=$((pass + 1)); echo "ok $((pass + fail)) - dot renders sg_draw('$g', 'dot')"
		[ "$write" = "--write" ] && cp "/tmp/stategraph-$g.png" "test/draw/$g.png"
	else
		fail=$((fail + 1)); echo "not ok $((pass + fail)) - dot renders sg_draw('$g', 'dot')"; cat /tmp/stategraph-dot.err
	fi
done
echo "1..$((pass + fail))"
[ "$fail" -eq 0 ]
