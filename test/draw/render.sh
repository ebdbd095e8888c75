#!/usr/bin/env bash
# Checks that the dot output of sg_draw (graphs) and sg_draw_history (a thread's
# checkpoints: time travel, branches, interrupts, failures, updates, pruning,
# limits) is valid Graphviz that `dot -Tpng` renders, and that the pictures in
# docs/ (README's) are current: each docs/<name>.png has its dot source next to
# it as docs/<name>.dot (checkpoint ids masked), which must equal what the
# functions draw today. With --write, renders the pictures into docs/ again.
# Needs a server to connect to (e.g. under pg_virtualenv) and Debian's graphviz.
set -uo pipefail
cd "$(dirname "$0")/../.."
write=${1:-}
DB=stategraph_draw
TMP=$(mktemp -d /tmp/stategraph-draw.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null || exit 2
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null 2>"$TMP/setup.err" <<'SQL' || { cat "$TMP/setup.err"; exit 2; }
CREATE EXTENSION stategraph;
-- the seed's graph, with the seed's node functions (README: build_checkpointed_graph)
CREATE FUNCTION step_one(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 1, "messages": ["Step 1 complete"]}'::jsonb $$;
CREATE FUNCTION step_two(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 2, "messages": ["Step 2 complete"]}'::jsonb $$;
CREATE FUNCTION step_three(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 3, "messages": ["Step 3 complete"]}'::jsonb $$;
SELECT sg_create_graph('workflow', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('workflow', 'step1', 'step_one(jsonb)');
SELECT sg_add_node('workflow', 'step2', 'step_two(jsonb)');
SELECT sg_add_node('workflow', 'step3', 'step_three(jsonb)');
SELECT sg_add_edge('workflow', '__start__', 'step1'), sg_add_edge('workflow', 'step1', 'step2'),
       sg_add_edge('workflow', 'step2', 'step3'), sg_add_edge('workflow', 'step3', '__end__');
SELECT sg_compile('workflow');
CREATE FUNCTION step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION again(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'done' $$;
SELECT sg_create_graph('routing', '{"log": "append"}');
SELECT sg_add_node('routing', n, 'step(jsonb)') FROM unnest(ARRAY['plan', 'search', 'read', 'review']) n;
SELECT sg_add_edge('routing', '__start__', 'plan'), sg_add_edge('routing', 'plan', 'search'),
       sg_add_edge('routing', 'plan', 'read'), sg_add_edge('routing', ARRAY['search', 'read'], 'review');
SELECT sg_add_conditional_edges('routing', 'review', 'again(jsonb)', '{"again": "plan", "done": "__end__"}');
SELECT sg_compile('routing');

-- README's time_travel_to_checkpoint(): the thread runs again from step 1
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'time-travel');
SELECT checkpoint_id AS step1_checkpoint FROM sg_get_state_history('time-travel')
WHERE ("values"->>'step')::int = 1 \gset
SELECT sg_invoke('workflow', NULL, thread_id => 'time-travel', checkpoint_id => :'step1_checkpoint');
-- README's branch_from_checkpoint(): feature-branch starts from main-branch's step 1
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"branch": "main"}}', thread_id => 'main-branch');
SELECT checkpoint_id AS main_step1 FROM sg_get_state_history('main-branch')
WHERE ("values"->>'step')::int = 1 \gset
SELECT sg_update_state('feature-branch', '{"data": {"branch": "feature"}}', checkpoint_id => :'main_step1');
SELECT sg_invoke('workflow', NULL, thread_id => 'feature-branch');

-- README's "Drawing a thread's history": the Getting started graph, a thread
-- updated at step 0 and run on from there
CREATE FUNCTION greet(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('messages', jsonb_build_array('Hello, ' || (state->>'name') || '!')) $$;
CREATE FUNCTION ask(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"messages": ["How can I help?"]}'::jsonb $$;
SELECT sg_create_graph('hello', '{"name": "replace", "messages": "append"}');
SELECT sg_add_node('hello', 'greet', 'greet(jsonb)');
SELECT sg_add_node('hello', 'ask', 'ask(jsonb)');
SELECT sg_add_edge('hello', '__start__', 'greet'), sg_add_edge('hello', 'greet', 'ask'),
       sg_add_edge('hello', 'ask', '__end__');
SELECT sg_compile('hello');
SELECT sg_invoke('hello', '{"name": "Ada"}', thread_id => 'drawn');
SELECT checkpoint_id AS started FROM sg_get_state_history('drawn') WHERE step = 0 \gset
SELECT sg_update_state('drawn', '{"name": "Grace"}', checkpoint_id => :'started');
SELECT sg_invoke('hello', NULL, thread_id => 'drawn');

-- interrupted, failed, updated, pruned and long threads
CREATE FUNCTION check_order(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF state->>'order' = 'broken' THEN RAISE EXCEPTION 'payment service is down'; END IF;
    RETURN jsonb_build_object('approved', sg_interrupt('{"question": "ship it?"}') = '"yes"');
END $$;
SELECT sg_create_graph('orders', '{"order": "replace", "approved": "replace"}');
SELECT sg_add_node('orders', 'check', 'check_order(jsonb)');
SELECT sg_add_node('orders', 'ship', 'step(jsonb)');
SELECT sg_add_edge('orders', '__start__', 'check'), sg_add_edge('orders', 'check', 'ship'),
       sg_add_edge('orders', 'ship', '__end__');
SELECT sg_compile('orders');
SELECT sg_invoke('orders', '{"order": "ok"}', thread_id => 'asked');
SELECT sg_invoke('orders', '{"order": "ok"}', thread_id => 'answered');
SELECT sg_invoke('orders', NULL, thread_id => 'answered', resume => '"yes"');
SELECT sg_invoke('orders', '{"order": "broken"}', thread_id => 'failed', on_error => 'return');
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'updated');
SELECT sg_update_state('updated', '{"data": {"fixed": true}}', as_node => 'step1');
SELECT sg_invoke('workflow', NULL, thread_id => 'updated');
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'pruned');
SELECT checkpoint_id AS p1 FROM sg_get_state_history('pruned') WHERE step = 1 \gset
SELECT sg_invoke('workflow', NULL, thread_id => 'pruned', checkpoint_id => :'p1');
SELECT sg_prune(keep_last => 5, thread_id => 'pruned');
SELECT sg_fork('time-travel', :'step1_checkpoint', 'forked');
SELECT count(sg_invoke('workflow', jsonb_build_object('messages', jsonb_build_array('turn ' || i)), thread_id => 'long'))
FROM generate_series(1, 40) i;
SQL
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $1"; }
notok() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $1"; [ -f "$TMP/err" ] && sed 's/^/#   /' "$TMP/err"; }
mask() { sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<id>/g'; }

# render NAME SQL [PICTURE]: the dot text SQL returns renders with dot -Tpng; a
# PICTURE (docs/PICTURE.png) must also be current, or is written with --write
render() {
	local name=$1 sql=$2 pic=${3:-}
	: >"$TMP/err"
	if psql -X -At -d "$DB" -v ON_ERROR_STOP=1 -c "$sql" >"$TMP/$name.dot" 2>"$TMP/err" \
		&& dot -Tpng -o "$TMP/$name.png" "$TMP/$name.dot" 2>"$TMP/err" && [ -s "$TMP/$name.png" ] && [ ! -s "$TMP/err" ]; then
		ok "dot renders $sql"
	else
		notok "dot renders $sql"; return
	fi
	[ -n "$pic" ] || return
	if [ "$write" = "--write" ]; then
		mask <"$TMP/$name.dot" >"docs/$pic.dot" && cp "$TMP/$name.png" "docs/$pic.png"
	fi
	if mask <"$TMP/$name.dot" | diff -u "docs/$pic.dot" - >"$TMP/err" 2>&1 && [ -s "docs/$pic.png" ]; then
		ok "docs/$pic.png is current"
	else
		notok "docs/$pic.png is current (bash test/draw/render.sh --write renders it again)"
	fi
}

render workflow "SELECT sg_draw('workflow', 'dot')" workflow
render routing "SELECT sg_draw('routing', 'dot')" routing
render time-travel "SELECT sg_draw_history('time-travel', 'dot')" history-time-travel
render feature-branch "SELECT sg_draw_history('feature-branch', 'dot')" history-branch
render drawn "SELECT sg_draw_history('drawn', 'dot')" history-update
render main-branch "SELECT sg_draw_history('main-branch', 'dot')"
for t in asked answered failed updated pruned forked; do
	render "$t" "SELECT sg_draw_history('$t', 'dot')"
done
render long "SELECT sg_draw_history('long', 'dot')"
render long-10 "SELECT sg_draw_history('long', 'dot', 10)"
echo "1..$((pass + fail))"
[ "$fail" -eq 0 ]
