// Formats one run of test/bench/external/run.sh (its JSON) as Markdown: node report.mjs <json> <machine line>
import fs from 'node:fs';

const j = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const med = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const col = (side, k) => med(j[side].map((r) => r[k]));
const f = (x, d = 1) => Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const sg = col('sg', 'per_s'), gw = col('gw', 'per_s');
const ok = (c) => (c ? 'met' : '**missed**');
console.log(`| measure | stategraph, external node | graphile-worker ${j.gw_version} | ratio | target |`);
console.log('| --- | ---: | ---: | ---: | --- |');
console.log(`| finished runs / jobs per second, median of ${j.rounds} alternating rounds of ${j.runs}, ${j.workers} workers, one task per claim | ${f(sg, 0)} | ${f(gw, 0)} | ${f(sg / gw, 2)}x | >= 1x: ${ok(sg >= gw)} |`);
console.log(`| (each round) | ${j.sg.map((r) => f(r.per_s, 0)).join(', ')} | ${j.gw.map((r) => f(r.per_s, 0)).join(', ')} | ${j.sg.map((r, i) => f(r.per_s / j.gw[i].per_s, 2)).join(', ')} | |`);
const L = (side, k, d = 2) => f(j[`${side}_latency`][k], d);
console.log(`| commit-to-claim p50, ms, claim timed in Node (${j.sg_latency.samples} / ${j.gw_latency.samples} samples) | ${L('sg', 'client_p50')} | ${L('gw', 'client_p50')} | | < 5 ms: ${ok(j.sg_latency.client_p50 < 5)} / ${ok(j.gw_latency.client_p50 < 5)} |`);
console.log(`| commit-to-claim p50, ms, claim timed on the server | ${L('sg', 'server_p50')} | ${L('gw', 'server_p50')} | | |`);
console.log(`| commit-to-claim p90 / p99, ms (Node) | ${L('sg', 'client_p90')} / ${L('sg', 'client_p99')} | ${L('gw', 'client_p90')} / ${L('gw', 'client_p99')} | | |`);
console.log(`| per run / job: commits, WAL records, WAL bytes | ${f(col('sg', 'commits'), 2)}, ${f(col('sg', 'wal_records'))}, ${f(col('sg', 'wal_bytes'), 0)} | ${f(col('gw', 'commits'), 2)}, ${f(col('gw', 'wal_records'))}, ${f(col('gw', 'wal_bytes'), 0)} | | |`);
console.log(`| per run / job: server CPU ms, Node CPU ms | ${f(col('sg', 'server_cpu_ms'), 3)}, ${f(col('sg', 'client_cpu_ms'), 3)} | ${f(col('gw', 'server_cpu_ms'), 3)}, ${f(col('gw', 'client_cpu_ms'), 3)} | | |`);
console.log(`\n${process.argv[3] || ''}; load average (1/5/15 min) at the start, after each round and at the end: ${j.load.join('; ')}.`);
