// Profiling aid for the stategraph side of bench.mjs, alone and as long as
// wanted: BENCH_RUNS waiting runs of graph bx (created by bench.mjs, or by
// hand) finished by BENCH_WORKERS loops that complete a task and claim the
// next in one statement. Prints "go" on stderr when the loops start (attach
// perf to the backends then, or reset pg_stat_statements), and runs/s on
// stdout. Not a benchmark: nothing runs side by side with it.
//
//     PGHOST=<socket directory> DRIVE_PAUSE=1000 node drive.mjs
import pg from 'pg';

const N = Number(process.env.BENCH_RUNS || 3000);
const WORKERS = Number(process.env.BENCH_WORKERS || 4);
const conn = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432),
               user: process.env.PGUSER || 'postgres', database: process.env.PGDATABASE || 'postgres' };
const admin = new pg.Client(conn);
await admin.connect();
await admin.query(`SELECT sg_delete_thread(thread_id) FROM sg_threads('bx')`);
await admin.query(`DELETE FROM stategraph.tasks`);
await admin.query(`SELECT count(sg_invoke('bx', '{"n": 0}', 'tp-' || g)) FROM generate_series(1, $1::int) g`, [N]);
await admin.query('ANALYZE stategraph.tasks, stategraph.threads, stategraph.checkpoints');
if (process.env.DRIVE_PAUSE) await new Promise((r) => setTimeout(r, Number(process.env.DRIVE_PAUSE)));
console.error('go');
const t0 = performance.now();
let done = 0;
await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
	const c = new pg.Client(conn);
	await c.connect();
	let t = (await c.query({ name: 'poll', text: `SELECT task_id, token FROM sg_claim('bx', $1, 1)`, values: [`w${w}`] })).rows[0];
	while (t) {
		t = (await c.query({ name: 'complete_claim', values: [t.task_id, t.token, `w${w}`],
			text: `SELECT task_id, token FROM sg_claim('bx', $3, (SELECT 1 FROM sg_complete($1, $2, '{"n": 1}')))` })).rows[0];
		done++;
	}
	await c.end();
}));
console.log(JSON.stringify({ runs: done, per_s: done / ((performance.now() - t0) / 1000) }));
await admin.end();
