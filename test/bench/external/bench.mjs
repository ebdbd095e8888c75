// External nodes vs graphile-worker on one cluster (test/bench/external/run.sh).
//   throughput: N waiting runs of a graph with one external node, finished by
//     4 worker loops (claim, complete, continue the run), next to N no-op
//     graphile-worker jobs run with concurrency 4; seeding is not timed.
//   latency: one task (or job) at a time committed by a producer while the
//     workers are idle; commit-to-claim = claim received minus commit returned,
//     both by performance.now() in this one process.
// Connection: PGHOST (socket directory), PGPORT, PGUSER, PGDATABASE.
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { run, runMigrations } from 'graphile-worker';

const N = Number(process.env.BENCH_RUNS || 1000);
const WORKERS = Number(process.env.BENCH_WORKERS || 4);
const SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES || 200);
const GAP_MS = 10;
const CLAIM_N = Number(process.env.BENCH_CLAIM_N || 1);   // tasks a worker claims at once
const conn = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432),
               user: process.env.PGUSER || 'postgres', database: process.env.PGDATABASE || 'postgres' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function client() { const c = new pg.Client(conn); await c.connect(); return c; }

// ---------------------------------------------------------------- stategraph
async function sgSetup(admin) {
  await admin.query(`CREATE EXTENSION IF NOT EXISTS stategraph`);
  await admin.query(`SELECT sg_drop_graph('bx') FROM stategraph.graphs WHERE graph = 'bx'`);
  await admin.query(`SELECT sg_create_graph('bx', '{"n": "replace"}'),
                            sg_add_external_node('bx', 'noop', 'bx', lease => '60 seconds'),
                            sg_add_edge('bx', '__start__', 'noop'), sg_add_edge('bx', 'noop', '__end__')`);
  await admin.query(`SELECT sg_compile('bx')`);
}

// one worker loop: claim (long poll), complete, continue the run
async function sgWorker(name, state, onClaim) {
  const c = await client();
  while (!state.stop) {
    const r = await c.query(`SELECT task_id, token, thread_id FROM sg_claim('bx', $1, $2, NULL, '200 ms')`, [name, CLAIM_N]);
    for (const t of r.rows) {
      if (onClaim) onClaim(t);
      // complete and continue the run in one statement (one round trip, one commit)
      await c.query(`SELECT sg_invoke('bx', NULL, $3)
                     FROM (SELECT sg_complete($1, $2, '{"n": 1}') OFFSET 0) done`, [t.task_id, t.token, t.thread_id]);
      state.done++;
      if (state.done === state.target) state.end = performance.now();
    }
  }
  await c.end();
}

async function sgThroughput(admin) {
  await admin.query(`SELECT count(sg_invoke('bx', '{"n": 0}', 'tp-' || g)) FROM generate_series(1, $1) g`, [N]);
  const state = { done: 0, target: N, stop: false, end: 0 };
  const t0 = performance.now();
  const loops = Array.from({ length: WORKERS }, (_, i) => sgWorker(`sg-${i}`, state));
  while (state.done < N) await sleep(5);
  state.stop = true;
  await Promise.all(loops);
  const { rows } = await admin.query(`SELECT count(*)::int AS n FROM sg_threads('bx') WHERE status = 'done' AND thread_id LIKE 'tp-%'`);
  if (rows[0].n !== N) throw new Error(`only ${rows[0].n} of ${N} runs finished`);
  return N / ((state.end - t0) / 1000);
}

async function sgLatency(admin) {
  const sent = new Map();
  const lat = [];
  const state = { done: 0, target: -1, stop: false };
  const loops = Array.from({ length: WORKERS }, (_, i) =>
    sgWorker(`sg-lat-${i}`, state, (t) => { const s = sent.get(t.thread_id); if (s !== undefined) lat.push(performance.now() - s); }));
  await sleep(500);
  for (let i = 0; i < SAMPLES; i++) {
    const thread = `lat-${i}`;
    await admin.query(`SELECT sg_invoke('bx', '{"n": 0}', $1)`, [thread]);
    sent.set(thread, performance.now());
    await sleep(GAP_MS);
  }
  while (state.done < SAMPLES) await sleep(5);
  state.stop = true;
  await Promise.all(loops);
  return lat;
}

// ----------------------------------------------------------- graphile-worker
async function gwThroughput(pool, admin) {
  await admin.query(`SELECT count(graphile_worker.add_job('noop', '{}'::json)) FROM generate_series(1, $1)`, [N]);
  let done = 0, end = 0;
  const t0 = performance.now();
  const runner = await run({ pgPool: pool, concurrency: WORKERS, noHandleSignals: true, pollInterval: 1000,
                             logger: quiet(), taskList: { noop: async () => {} } });
  runner.events.on('job:complete', () => { if (++done === N) end = performance.now(); });
  while (done < N) await sleep(5);
  await runner.stop();
  return N / ((end - t0) / 1000);
}

async function gwLatency(pool, admin) {
  const sent = new Map();
  const lat = [];
  let done = 0;
  const runner = await run({ pgPool: pool, concurrency: WORKERS, noHandleSignals: true, pollInterval: 1000,
                             logger: quiet(),
                             taskList: { lat: async (payload) => { const s = sent.get(payload.i); if (s !== undefined) lat.push(performance.now() - s); done++; } } });
  await sleep(500);
  for (let i = 0; i < SAMPLES; i++) {
    await admin.query(`SELECT graphile_worker.add_job('lat', json_build_object('i', $1::int))`, [i]);
    sent.set(i, performance.now());
    await sleep(GAP_MS);
  }
  while (done < SAMPLES) await sleep(5);
  await runner.stop();
  return lat;
}

function quiet() {
  const noop = () => {};
  const l = { debug: noop, info: noop, warn: noop, error: (m) => console.error(m), scope: () => l };
  return { scope: () => l, ...l };
}

// ---------------------------------------------------------------------- main
// Rounds alternate between the two (the machine is shared and noisy): medians are reported.
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const median = (a) => pct(a, 0.5);
const admin = await client();
await sgSetup(admin);
const pool = new pg.Pool({ ...conn, max: WORKERS + 4 });
await runMigrations({ pgPool: pool, logger: quiet() });
const sgRates = [], gwRates = [];
for (let r = 0; r < ROUNDS; r++) {
  await admin.query(`DELETE FROM stategraph.tasks`);
  await admin.query(`SELECT sg_delete_thread(thread_id) FROM sg_threads('bx')`);
  await admin.query(`VACUUM ANALYZE stategraph.tasks`);
  sgRates.push(await sgThroughput(admin));
  gwRates.push(await gwThroughput(pool, admin));
}
const sgLat = await sgLatency(admin);
const gwLat = await gwLatency(pool, admin);
await pool.end();
await admin.end();
const f = (x) => x.toFixed(2);
const sgRate = median(sgRates), gwRate = median(gwRates);
console.log(`| measure | stategraph external node | graphile-worker | ratio |`);
console.log(`| --- | ---: | ---: | ---: |`);
console.log(`| finished runs (jobs) per second, median of ${ROUNDS} alternating rounds of ${N}, ${WORKERS} workers, sg_claim n = ${CLAIM_N} | ${sgRate.toFixed(0)} | ${gwRate.toFixed(0)} | ${f(sgRate / gwRate)}x |`);
console.log(`| (each round) | ${sgRates.map((x) => x.toFixed(0)).join(', ')} | ${gwRates.map((x) => x.toFixed(0)).join(', ')} | |`);
console.log(`| commit-to-claim p50, ms (${SAMPLES} samples each) | ${f(pct(sgLat, 0.5))} | ${f(pct(gwLat, 0.5))} | |`);
console.log(`| commit-to-claim p90, ms | ${f(pct(sgLat, 0.9))} | ${f(pct(gwLat, 0.9))} | |`);
console.log(`| commit-to-claim p99, ms | ${f(pct(sgLat, 0.99))} | ${f(pct(gwLat, 0.99))} | |`);
