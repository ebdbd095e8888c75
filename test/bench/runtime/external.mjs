// Issue 10 side of test/bench/runtime/run.sh: graphs with one external node
// (extflow: START -> ext -> END, setup.sql) done by 4 worker loops written
// with `pg`, next to graphile-worker running the same number of no-op jobs
// with 4 workers (concurrency 4), both on the benchmark's cluster.
//
//   node external.mjs <url> sg|graphile <jobs> <latency samples>
//
// 1. Throughput: <jobs> runs (tasks) or jobs are queued first, in one
//    statement; then the 4 workers start and the clock runs until the last
//    one is finished (stategraph: the thread reached END; graphile-worker:
//    the job row is gone). Result: finished per second.
// 2. Latency: the workers are idle (stategraph: LISTEN stategraph_tasks and
//    sg_claim(wait => ...) long polls; graphile-worker: its own LISTEN), one
//    producer starts a run / adds a job at a time, in a transaction that also
//    inserts a bench_mark row; commit-to-claim = the moment the worker has
//    the task in hand (client clock, the same machine's) minus
//    pg_xact_commit_timestamp of that transaction. The next one is queued
//    only after the previous one finished, after a short random pause.
// The stategraph loops use named (prepared) statements, as graphile-worker does.
// Prints one JSON line.
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { execSync } from 'node:child_process';

const [url, system, jobsArg, latArg] = process.argv.slice(2);
const JOBS = Number(jobsArg), LAT = Number(latArg), WORKERS = 4;
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function connect() { const c = new pg.Client({ connectionString: url }); await c.connect(); return c; }
const admin = await connect();
const out = { system, workers: WORKERS, jobs: JOBS };
// the cluster's CPU ms so far (run.sh's cpu.sh), the Node process's own, and the WAL position
const serverCpu = () => (process.env.CPU_CMD ? Number(execSync(process.env.CPU_CMD).toString()) : NaN);
const clientCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const lsn = async () => (await admin.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l;
async function mark() { return { s: serverCpu(), c: clientCpu(), lsn: await lsn(), t: performance.now() }; }
async function phase(m0) {
	const m1 = await mark(), s = (m1.t - m0.t) / 1000;
	return { finished: JOBS, seconds: s, per_s: JOBS / s, server_cpu_ms: (m1.s - m0.s) / JOBS, client_cpu_ms: (m1.c - m0.c) / JOBS, lsn0: m0.lsn, lsn1: m1.lsn };
}

// commit time (µs since epoch) of each bench_mark row, by key column
async function commitTimes(col) {
	const r = await admin.query(`SELECT ${col} AS k, extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1e6 AS us FROM bench_mark WHERE ${col} IS NOT NULL`);
	return new Map(r.rows.map((x) => [x.k, Number(x.us)]));
}
function latencies(commits, claims) {
	const ms = [];
	for (const [k, t] of claims) if (commits.has(k)) ms.push((t - commits.get(k)) / 1000);
	return ms;
}

if (system === 'sg') {
	// ---------------------------------------------------------------- stategraph
	// Does a completed task's step go on by itself (background workers), or
	// must the worker continue it (sg_invoke(graph, NULL, thread), RUNTIME.md)?
	await admin.query(`SELECT sg_invoke('extflow', '{"step": 0}', 'probe')`);
	const p = (await admin.query(`SELECT task_id, token FROM sg_claim('bench', 'probe', 1)`)).rows[0];
	await admin.query(`SELECT sg_complete($1, $2, '{"step": 1}')`, [p.task_id, p.token]);
	let auto = false;
	for (let i = 0; i < 40 && !auto; i++) {
		await sleep(50);
		const s = (await admin.query(`SELECT (sg_get_state('probe')).next AS next`)).rows[0].next;
		auto = s.length === 0;
	}
	if (!auto) await admin.query(`SELECT sg_invoke('extflow', NULL, 'probe')`);
	out.continued_by = auto ? 'background workers' : 'the worker loop (sg_complete, then sg_invoke(graph, NULL, thread), in one statement)';

	let finished = 0, stop = false, onFinish = null;
	const claimedAt = new Map(), claimedAtServer = new Map();
	let notifications = 0;
	const loops = [];
	const conns = [];
	for (let w = 0; w < WORKERS; w++) {
		const c = await connect();
		c.on('notification', () => { notifications++; });
		await c.query('LISTEN stategraph_tasks');
		conns.push(c);
	}
	const worker = async (c, w) => {
		while (!stop) {
			// a long poll: returns as soon as a task is committed (latch under the preload)
			const r = await c.query({ name: 'claim', values: ['w' + w],
				text: `SELECT t.task_id, t.token, t.thread_id, extract(epoch FROM clock_timestamp()) * 1e6 AS at
				       FROM sg_claim('bench', $1, 1, wait => '200 ms') t` });
			for (const t of r.rows) {
				claimedAt.set(t.thread_id, nowUs());
				claimedAtServer.set(t.thread_id, Number(t.at));
				if (auto) {
					await c.query({ name: 'complete', text: `SELECT sg_complete($1, $2, '{"step": 1}')`, values: [t.task_id, t.token] });
				} else {
					// one statement, one transaction: complete the task, then continue its step
					// (OFFSET 0 keeps the subquery, so sg_complete runs before sg_invoke)
					await c.query({ name: 'complete_continue', values: [t.task_id, t.token, t.thread_id],
						text: `SELECT sg_invoke('extflow', NULL, s.thread) FROM
						       (SELECT $3::text AS thread, sg_complete($1, $2, '{"step": 1}') AS done OFFSET 0) s` });
					finished++;
					if (onFinish) onFinish(t.thread_id);
				}
			}
		}
	};
	// auto mode: a thread is finished when it has no next node (polled)
	const waitAllDone = async (prefix, n) => {
		if (!auto) { while (finished < n) await sleep(1); return; }
		for (;;) {
			const r = await admin.query(`SELECT count(*)::int AS n FROM stategraph.threads t WHERE thread_id LIKE $1 AND (sg_get_state(thread_id)).next = '{}'`, [prefix + '%']);
			if (r.rows[0].n >= n) return;
			await sleep(5);
		}
	};

	// 1. throughput
	await admin.query(`SELECT count(sg_invoke('extflow', '{"step": 0}', 'x' || g)) FROM generate_series(1, $1::int) g`, [JOBS]);
	await admin.query('CHECKPOINT');
	const m0 = await mark();
	for (let w = 0; w < WORKERS; w++) loops.push(worker(conns[w], w));
	await waitAllDone('x', JOBS);
	out.throughput = await phase(m0);
	const ok = await admin.query(`SELECT count(*)::int AS n FROM stategraph.threads WHERE thread_id LIKE 'x%' AND (sg_get_state(thread_id)).values->>'step' = '1' AND (sg_get_state(thread_id)).next = '{}'`);
	if (ok.rows[0].n !== JOBS) throw new Error(`only ${ok.rows[0].n} of ${JOBS} threads reached END with step 1`);

	// 2. latency
	claimedAt.clear(); claimedAtServer.clear();
	finished = 0;
	const prod = await connect();
	for (let i = 0; i < LAT; i++) {
		const th = 'l' + i;
		const done = new Promise((r) => { onFinish = (id) => { if (id === th) r(); }; });
		await prod.query(`WITH m AS (INSERT INTO bench_mark(thread) VALUES ($1)) SELECT sg_invoke('extflow', '{"step": 0}', $1)`, [th]);
		if (auto) await waitAllDone(th, 1); else await done;
		await sleep(2 + Math.random() * 8);
	}
	stop = true;
	await Promise.all(loops);
	const commits = await commitTimes('thread');
	const lat = latencies(commits, claimedAt);
	const latServer = latencies(commits, claimedAtServer);
	out.latency = { samples: lat.length, p50_ms: median(lat), p90_ms: pct(lat, 0.9), server_p50_ms: median(latServer) };
	out.notifications = notifications;
	for (const c of conns) await c.end();
	await prod.end();
} else {
	// ---------------------------------------------------------------- graphile-worker
	const { run, runMigrations, Logger } = await import('graphile-worker');
	const logger = new Logger(() => () => {});
	await runMigrations({ connectionString: url, logger });
	let handled = 0, onHandle = null;
	const claimedAt = new Map();
	const taskList = {
		noop: async (payload) => {
			if (payload.m) claimedAt.set(payload.m, nowUs());
			handled++;
			if (onHandle) onHandle(payload.m);
		},
	};
	const jobsLeft = async () => (await admin.query('SELECT count(*)::int AS n FROM graphile_worker._private_jobs')).rows[0].n;

	// 1. throughput
	await admin.query(`SELECT count(graphile_worker.add_job('noop', json_build_object('i', g))) FROM generate_series(1, $1::int) g`, [JOBS]);
	await admin.query('CHECKPOINT');
	const m0 = await mark();
	const runner = await run({ connectionString: url, concurrency: WORKERS, noHandleSignals: true, logger, taskList });
	while (handled < JOBS) await sleep(1);
	while ((await jobsLeft()) > 0) await sleep(2);
	out.throughput = await phase(m0);

	// 2. latency
	const prod = await connect();
	for (let i = 0; i < LAT; i++) {
		const m = 'l' + i;
		const done = new Promise((r) => { onHandle = (id) => { if (id === m) r(); }; });
		await prod.query(`WITH b AS (INSERT INTO bench_mark(job) VALUES ($1)) SELECT graphile_worker.add_job('noop', json_build_object('m', $1::text))`, [m]);
		await done;
		await sleep(2 + Math.random() * 8);
	}
	await runner.stop();
	const commits = await commitTimes('job');
	const lat = latencies(commits, claimedAt);
	out.latency = { samples: lat.length, p50_ms: median(lat), p90_ms: pct(lat, 0.9) };
	out.version = (await import('graphile-worker/package.json', { with: { type: 'json' } })).default.version;
	await prod.end();
}
await admin.end();
console.log(JSON.stringify(out));
