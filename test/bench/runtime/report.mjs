// Formats one run of test/bench/runtime/run.sh as Markdown: node report.mjs <run directory>
import fs from 'node:fs';

const dir = process.argv[2];
const m = Object.fromEntries(fs.readFileSync(`${dir}/metrics.txt`, 'utf8').trim().split('\n').map((l) => l.split('\t')));
const json = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8').trim().split('\n').pop());
const sg = json('ext_sg.json'), gw = json('ext_gw.json');
const n = (x, d = 1) => Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const x = (a, b) => `${n(a / b, 2)}x`;
const ok = (c) => (c ? 'met' : '**missed**');
const cl = (c) => `${c} client${c > 1 ? 's' : ''}`;
const wal = (k) => (m[k] || '0 0 0').split(' ');

console.log(`### Issue 9: background runs (seed graph, 3 SQL nodes)\n`);
console.log('| measurement | stategraph background runs | peer | ratio | target |');
console.log('| --- | ---: | ---: | ---: | --- |');
for (const c of [1, 4]) {
	const r = m[`submit_c${c}`] / m[`invoke_c${c}`];
	console.log(`| submit-to-finished runs/s, ${cl(c)} (rounds: ${m[`submit_c${c}_all`].trim()} / ${m[`invoke_c${c}_all`].trim()}) | ${n(m[`submit_c${c}`])} | sg_invoke: ${n(m[`invoke_c${c}`])} | ${x(m[`submit_c${c}`], m[`invoke_c${c}`])} | >= 0.7x: ${ok(r >= 0.7)} |`);
}
for (const c of [1, 4])
	console.log(`| the same, next to CALL sg_run (a commit per step, in the client), ${cl(c)} | ${n(m[`submit_c${c}`])} | CALL sg_run: ${n(m[`call_c${c}`])} | ${x(m[`submit_c${c}`], m[`call_c${c}`])} | (reference) |`);
for (const c of [1, 4]) {
	const r = m[`submit_c${c}`] / m[`dbos_c${c}`];
	console.log(`| workflows/s through a queue, ${cl(c)} | ${n(m[`submit_c${c}`])} | DBOS ${m.dbos_version}: ${n(m[`dbos_c${c}`])} | ${x(m[`submit_c${c}`], m[`dbos_c${c}`])} | >= 5x: ${ok(r >= 5)} |`);
}
if (m.submit_c1_async)
	for (const c of [1, 4])
		console.log(`| synchronous_commit = off: submit-to-finished runs/s, ${cl(c)} | ${n(m[`submit_c${c}_async`])} | sg_invoke: ${n(m[`invoke_c${c}_async`])}; CALL sg_run: ${n(m[`call_c${c}_async`])} | ${x(m[`submit_c${c}_async`], m[`invoke_c${c}_async`])}; ${x(m[`submit_c${c}_async`], m[`call_c${c}_async`])} | (reference) |`);
console.log(`| commit-to-start p50 (ms), ${m.start_n} submits one at a time | ${n(m.start_p50, 3)} (p90 ${n(m.start_p90, 3)}; commit-to-finished p50 ${n(m.finish_p50, 3)}) | | | < 2 ms: ${ok(Number(m.start_p50) < 2)} |`);

console.log(`\nWhere the time goes, per run (commits and WAL: 20 runs one after another, from pg_waldump; server CPU: the cluster's processes during the ${cl(4)} runs, client CPU: the Node process):\n`);
console.log('| way | commits | WAL records | WAL bytes | server CPU ms (4 clients) | client CPU ms |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [k, name] of [['invoke', 'sg_invoke'], ['run_call', 'CALL sg_run'], ['submit', 'sg_submit + background worker + sg_wait']]) {
	const [c, r, b] = wal(`wal_${k}`);
	const key = k === 'run_call' ? 'call' : k;
	console.log(`| ${name} | ${c} | ${r} | ${n(b, 0)} | ${n(m[`${key}_c4_cpu`], 2)} | (pgbench) |`);
}
const [ds, dc] = (m.dbos_c4_cpu || 'NaN NaN').split(' ');
console.log(`| DBOS workflow through its queue | | | | ${n(ds, 2)} | ${n(dc, 2)} |`);

console.log(`\n### Issue 10: external nodes, 4 Node worker loops vs graphile-worker ${gw.version} (concurrency 4)\n`);
console.log('| measurement | stategraph | graphile-worker | ratio | target |');
console.log('| --- | ---: | ---: | ---: | --- |');
const tr = sg.throughput.per_s / gw.throughput.per_s;
console.log(`| finished runs/s vs jobs/s (${n(sg.jobs, 0)} queued first) | ${n(sg.throughput.per_s)} | ${n(gw.throughput.per_s)} | ${x(sg.throughput.per_s, gw.throughput.per_s)} | >= 1x: ${ok(tr >= 1)} |`);
console.log(`| commit-to-claim p50 (ms), ${sg.latency.samples} / ${gw.latency.samples} samples | ${n(sg.latency.p50_ms, 3)} (server side ${n(sg.latency.server_p50_ms, 3)}) | ${n(gw.latency.p50_ms, 3)} | ${x(sg.latency.p50_ms, gw.latency.p50_ms)} | < 5 ms both: ${ok(sg.latency.p50_ms < 5)} / ${ok(gw.latency.p50_ms < 5)} |`);
console.log(`| commit-to-claim p90 (ms) | ${n(sg.latency.p90_ms, 3)} | ${n(gw.latency.p90_ms, 3)} | | |`);
const [sc, sr, sb] = wal('wal_ext_sg'), [gc, gr, gb] = wal('wal_ext_gw');
console.log(`| per finished run / job: commits, WAL records, WAL bytes | ${sc}, ${sr}, ${n(sb, 0)} | ${gc}, ${gr}, ${n(gb, 0)} | | |`);
console.log(`| per finished run / job: server CPU ms, Node CPU ms | ${n(sg.throughput.server_cpu_ms, 2)}, ${n(sg.throughput.client_cpu_ms, 2)} | ${n(gw.throughput.server_cpu_ms, 2)}, ${n(gw.throughput.client_cpu_ms, 2)} | | |`);
console.log(`\nA stategraph run's step after its external task is continued by ${sg.continued_by}.`);
console.log(`\nMachine: ${m.cpu}; PostgreSQL ${m.pg_version}, stategraph ${m.ext_version}, stategraph.max_workers ${m.max_workers}, stategraph.worker_sync_steps ${m.worker_sync_steps}, Node ${m.node_version}; DBOS queue polling ${process.env.DBOS_POLL_MS || 10} ms.`);
console.log(`Load average (1/5/15 min): start ${m.load_start}; after the issue-9 throughput runs ${m.load_mid9}; after DBOS ${m.load_end9}; at the end ${m.load_end}.`);
