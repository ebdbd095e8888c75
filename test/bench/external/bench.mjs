// External nodes vs graphile-worker on one cluster (test/bench/external/run.sh).
//
// Throughput, in rounds that alternate between the two (the machine is
// shared and noisy; medians are reported):
//   stategraph: N threads of graph bx (START -> noop, external on queue bx
//     -> END) are started first (sg_invoke: each queues its task and stops,
//     thread waiting; not timed). Then WORKERS loops, each on its own `pg`
//     connection with named (prepared) statements, claim ONE task per claim
//     and finish it: the completion (sg_complete, which continues the step
//     once its last task is complete) and the claim of the next task are one
//     statement, one transaction; only when that claim finds nothing does
//     the loop long-poll (sg_claim(wait => 200 ms)). A run counts when its
//     thread is done; all N are checked (state n = 1, no next node).
//   graphile-worker: N no-op jobs are added first (not timed); one runner
//     with concurrency WORKERS; the round ends when all N fired job:complete
//     and the jobs table is empty.
//   Both tables are ANALYZEd after seeding, as autovacuum would have done
//   (a table analyzed while empty gets plans that scan it).
//   Per finished run / job: the cluster's CPU (cpu.sh), the Node process's
//   CPU, WAL bytes and records (pg_waldump over the round's LSN range).
//
// Commit-to-claim latency, idle workers, one task (job) at a time: a
// producer starts a run (adds a job) in a transaction that also inserts a
// bench_mark row; commit time = pg_xact_commit_timestamp of that row. The
// claim is timed on both sides of the wire: the server's clock_timestamp()
// in the claiming statement (graphile-worker: the job's locked_at, the
// claiming transaction's start), and the Node clock when the claim arrived
// (the same machine's clock).
//
// Connection: PGHOST (socket directory), PGPORT, PGUSER, PGDATABASE.
// Prints one JSON object.
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { execSync } from 'node:child_process';
import { run, runMigrations, Logger } from 'graphile-worker';

const N = Number(process.env.BENCH_RUNS || 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const WORKERS = Number(process.env.BENCH_WORKERS || 4);
const SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES || 200);
const conn = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432),
               user: process.env.PGUSER || 'postgres', database: process.env.PGDATABASE || 'postgres' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sorted = (a) => [...a].sort((x, y) => x - y);
const pct = (a, p) => { const s = sorted(a); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const median = (a) => { const s = sorted(a); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;
const serverCpu = () => Number(execSync(process.env.CPU_CMD).toString());
const clientCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const loadavg = () => execSync('cut -d" " -f1-3 /proc/loadavg').toString().trim();

async function client() { const c = new pg.Client(conn); await c.connect(); return c; }
const admin = await client();
const lsn = async () => (await admin.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l;

// WAL records and bytes between two LSNs (pg_waldump --stats)
function walStats(from, to) {
	const out = execSync(`${process.env.PGWALDUMP} -p ${process.env.PGWALDIR} -s ${from} -e ${to} --stats=record 2>/dev/null || true`).toString();
	const total = out.split('\n').find((l) => l.startsWith('Total'));
	const commits = out.split('\n').find((l) => l.startsWith('Transaction/COMMIT'));
	const f = total ? total.trim().split(/\s+/) : [];
	return { records: Number(f[1] || 0), bytes: Number((f[f.length - 2] || '0').replace(/[^0-9]/g, '')) || 0,
	         commits: commits ? Number(commits.trim().split(/\s+/)[1]) : 0 };
}
async function mark() { await admin.query('CHECKPOINT'); return { s: serverCpu(), c: clientCpu(), lsn: await lsn(), t: performance.now() }; }
async function measured(m0, t1) {
	const m1 = { s: serverCpu(), c: clientCpu(), lsn: await lsn() };
	const w = walStats(m0.lsn, m1.lsn);
	return { per_s: N / ((t1 - m0.t) / 1000), server_cpu_ms: (m1.s - m0.s) / N, client_cpu_ms: (m1.c - m0.c) / N,
	         wal_records: w.records / N, wal_bytes: w.bytes / N, commits: w.commits / N };
}

// ---------------------------------------------------------------- stategraph
async function sgSetup() {
	await admin.query(`CREATE EXTENSION IF NOT EXISTS stategraph`);
	await admin.query(`SELECT sg_create_graph('bx', '{"n": "replace"}'),
	                          sg_add_external_node('bx', 'noop', 'bx', lease => '60 seconds')`);
	await admin.query(`SELECT sg_add_edge('bx', '__start__', 'noop'), sg_add_edge('bx', 'noop', '__end__')`);
	await admin.query(`SELECT sg_compile('bx')`);
	await admin.query(`CREATE TABLE bench_mark (thread text, job text)`);
}

// The completion of a task: sg_complete goes on with the step when its last task is
// complete (BENCH_SG_CONTINUE=invoke: continue it with sg_invoke(graph, NULL, thread)
// in the same statement, as before sg_complete did it)
const COMPLETE = process.env.BENCH_SG_CONTINUE === 'invoke'
	? `SELECT sg_invoke('bx', NULL, $3::text) FROM (SELECT sg_complete($1, $2, '{"n": 1}') OFFSET 0) c`
	: `SELECT sg_complete($1, $2, '{"n": 1}'), $3::text`;

// one worker loop: complete the task in hand and claim the next in one statement;
// long-poll only when there was none
async function sgWorker(name, state, onClaim) {
	const c = await client();
	let task = null;
	const got = (r) => {
		const t = r.rows[0] || null;
		if (t && onClaim) onClaim(t, nowUs());
		return t;
	};
	while (!state.stop || task) {
		if (!task) {
			task = got(await c.query({ name: 'poll', values: [name],
				text: `SELECT task_id, token, thread_id, extract(epoch FROM clock_timestamp()) * 1e6 AS at
				       FROM sg_claim('bx', $1, 1, NULL, '200 ms')` }));
			continue;
		}
		// the completion first (a scalar subquery in the claim's argument), then the next claim
		const r = state.stop
			? await c.query({ name: 'complete', values: [task.task_id, task.token, task.thread_id], text: COMPLETE })
			: await c.query({ name: 'complete_claim', values: [task.task_id, task.token, task.thread_id, name],
				text: `SELECT task_id, token, thread_id, extract(epoch FROM clock_timestamp()) * 1e6 AS at
				       FROM sg_claim('bx', $4, (SELECT 1 FROM (${COMPLETE} OFFSET 0) done))` });
		state.done++;
		if (state.done === state.target) state.end = performance.now();
		task = got(r);
	}
	await c.end();
}

async function sgThroughput(round) {
	// the last round's threads and tasks go (faster than sg_delete_thread; this cluster has nothing else)
	await admin.query(`TRUNCATE stategraph.tasks, stategraph.checkpoints, stategraph.threads`);
	await admin.query(`SELECT count(sg_invoke('bx', '{"n": 0}', 'tp' || $2::int || '-' || g)) FROM generate_series(1, $1::int) g`, [N, round]);
	await admin.query(`ANALYZE stategraph.tasks, stategraph.threads, stategraph.checkpoints`);	// as autovacuum would
	const state = { done: 0, target: N, stop: false, end: 0 };
	const m0 = await mark();
	const loops = Array.from({ length: WORKERS }, (_, i) => sgWorker(`sg-${i}`, state));
	while (state.done < N) await sleep(2);
	const r = await measured(m0, state.end);
	state.stop = true;
	await Promise.all(loops);
	const { rows } = await admin.query(`SELECT count(*)::int AS n FROM stategraph.threads t, sg_get_state(t.thread_id) s
	                                    WHERE t.graph = 'bx' AND t.status = 'done' AND s."values"->>'n' = '1' AND s.next = '{}'`);
	if (rows[0].n !== N) throw new Error(`only ${rows[0].n} of ${N} runs finished with n = 1`);
	return r;
}

async function sgLatency() {
	const claims = new Map();
	const state = { done: 0, target: -1, stop: false };
	const loops = Array.from({ length: WORKERS }, (_, i) =>
		sgWorker(`lat-${i}`, state, (t, us) => claims.set(t.thread_id, { client: us, server: Number(t.at) })));
	const prod = await client();
	await sleep(500);
	for (let i = 0; i < SAMPLES; i++) {
		const th = `lat-${i}`;
		await prod.query(`WITH m AS (INSERT INTO bench_mark (thread) VALUES ($1)) SELECT sg_invoke('bx', '{"n": 0}', $1)`, [th]);
		while (state.done <= i) await sleep(1);
		await sleep(2 + Math.random() * 8);
	}
	state.stop = true;
	await Promise.all(loops);
	await prod.end();
	const commits = await commitTimes('thread');
	return latencies(commits, claims);
}

// ----------------------------------------------------------- graphile-worker
const logger = new Logger(() => () => {});

async function gwThroughput(pool) {
	await admin.query(`SELECT count(graphile_worker.add_job('noop', json_build_object('i', g))) FROM generate_series(1, $1::int) g`, [N]);
	await admin.query(`ANALYZE graphile_worker._private_jobs`);
	let done = 0, end = 0;
	const m0 = await mark();
	const runner = await run({ pgPool: pool, concurrency: WORKERS, noHandleSignals: true, logger,
	                           taskList: { noop: async () => {} } });
	runner.events.on('job:complete', () => { if (++done === N) end = performance.now(); });
	while (done < N) await sleep(2);
	for (;;) {	// complete_job has committed for every job
		const { rows } = await admin.query('SELECT count(*)::int AS n FROM graphile_worker._private_jobs');
		if (rows[0].n === 0) break;
		await sleep(2);
	}
	end = performance.now();	// every complete_job committed (polled every 2 ms: at most that late)
	const r = await measured(m0, end);
	await runner.stop();
	return r;
}

async function gwLatency(pool) {
	const claims = new Map();
	let done = 0;
	const runner = await run({ pgPool: pool, concurrency: WORKERS, noHandleSignals: true, logger,
		taskList: { lat: async (payload, helpers) => {
			claims.set(payload.m, { client: nowUs(), server: new Date(helpers.job.locked_at).getTime() * 1000 });
			done++;
		} } });
	const prod = await client();
	await sleep(500);
	for (let i = 0; i < SAMPLES; i++) {
		const m = `lat-${i}`;
		await prod.query(`WITH b AS (INSERT INTO bench_mark (job) VALUES ($1)) SELECT graphile_worker.add_job('lat', json_build_object('m', $1::text))`, [m]);
		while (done <= i) await sleep(1);
		await sleep(2 + Math.random() * 8);
	}
	await runner.stop();
	await prod.end();
	const commits = await commitTimes('job');
	return latencies(commits, claims);
}

// ---------------------------------------------------------------- latency data
async function commitTimes(col) {
	const r = await admin.query(`SELECT ${col} AS k, extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1e6 AS us
	                             FROM bench_mark WHERE ${col} IS NOT NULL`);
	return new Map(r.rows.map((x) => [x.k, Number(x.us)]));
}
function latencies(commits, claims) {
	const client = [], server = [];
	for (const [k, c] of claims) {
		if (!commits.has(k)) continue;
		client.push((c.client - commits.get(k)) / 1000);
		server.push((c.server - commits.get(k)) / 1000);
	}
	return { samples: client.length, client_p50: median(client), client_p90: pct(client, 0.9), client_p99: pct(client, 0.99),
	         server_p50: median(server), server_p90: pct(server, 0.9) };
}

// ---------------------------------------------------------------------- main
await sgSetup();
const pool = new pg.Pool({ ...conn, max: WORKERS + 2 });
pool.on('error', (e) => console.error(e.message));
pool.on('connect', (c) => c.on('error', (e) => console.error(e.message)));
await runMigrations({ pgPool: pool, logger });
const out = { runs: N, rounds: ROUNDS, workers: WORKERS, load: [loadavg()], sg: [], gw: [],
              gw_version: JSON.parse(execSync('cat node_modules/graphile-worker/package.json').toString()).version };
for (let i = 0; i < ROUNDS; i++) {
	out.sg.push(await sgThroughput(i));
	out.gw.push(await gwThroughput(pool));
	out.load.push(loadavg());
}
out.sg_latency = await sgLatency();
out.gw_latency = await gwLatency(pool);
out.load.push(loadavg());
await pool.end();
await admin.end();
console.log(JSON.stringify(out));
