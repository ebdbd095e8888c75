// DBOS Transact side of test/bench/background/run.sh (issue 9): the seed's 3-step
// workflow, each step checkpointed by DBOS (DBOS.runStep), every workflow
// started through a DBOS queue, system database on the benchmark's cluster.
//
//   node dbos.mjs <system database url> <mode> ...
//     closed <clients> <seconds> <warmup>: each client enqueues a workflow and
//                                          awaits its result, again and again
//     batch <n>: enqueue n workflows at once, await them all
// Prints one JSON line: {"mode", "clients", "workflows", "seconds", "per_s"}.
// DBOS_POLL_MS: the queue's minPollingIntervalMs (DBOS's default is 1000).
import { DBOS } from '@dbos-inc/dbos-sdk';
import { execSync } from 'node:child_process';

// the cluster's CPU ms so far (run.sh's cpu.sh) and the Node process's own
const serverCpu = () => (process.env.CPU_CMD ? Number(execSync(process.env.CPU_CMD).toString()) : NaN);
const clientCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

const [url, mode, ...args] = process.argv.slice(2);
const POLL_MS = Number(process.env.DBOS_POLL_MS || 1000);

// The same three steps as the seed graph's SQL nodes (test/bench/background/setup.sql).
async function workflowFn(input) {
	let state = { ...input, messages: [...(input.messages || [])] };
	for (const n of [1, 2, 3]) {
		const out = await DBOS.runStep(async () => ({ step: n, messages: [`Step ${n} complete`] }), { name: `step${n}` });
		state = { ...state, step: out.step, messages: [...state.messages, ...out.messages] };
	}
	return state;
}
const workflow = DBOS.registerWorkflow(workflowFn, { name: 'workflow' });
const INPUT = { messages: [], step: 0, data: { user: 'alice' } };

DBOS.setConfig({ name: 'sgbench', systemDatabaseUrl: url, logLevel: 'error', runAdminServer: false });
await DBOS.launch();
await DBOS.registerQueue('bench', { minPollingIntervalMs: POLL_MS, onConflict: 'always_update' });

async function once() {
	const h = await DBOS.startWorkflow(workflow, { queueName: 'bench' })(INPUT);
	const r = await h.getResult({ pollingIntervalMs: POLL_MS });
	if (r.step !== 3 || r.messages.length !== 3) throw new Error('workflow result ' + JSON.stringify(r));
}

let result;
if (mode === 'closed') {
	const [clients, seconds, warmup] = args.map(Number);
	let until = Date.now() + warmup * 1000, counting = false, done = 0;
	const loop = async () => { while (Date.now() < until) { await once(); if (counting) done++; } };
	await Promise.all(Array.from({ length: clients }, loop));
	counting = true; until = Date.now() + seconds * 1000;
	const t0 = performance.now(), s0 = serverCpu(), c0 = clientCpu();
	await Promise.all(Array.from({ length: clients }, loop));
	const s = (performance.now() - t0) / 1000;
	result = { mode, clients, workflows: done, seconds: s, per_s: done / s,
		server_cpu_ms: (serverCpu() - s0) / done, client_cpu_ms: (clientCpu() - c0) / done };
} else if (mode === 'batch') {
	const n = Number(args[0]);
	const t0 = performance.now();
	const handles = [];
	for (let i = 0; i < n; i++) handles.push(await DBOS.startWorkflow(workflow, { queueName: 'bench' })(INPUT));
	for (const h of handles) await h.getResult({ pollingIntervalMs: POLL_MS });
	const s = (performance.now() - t0) / 1000;
	result = { mode, clients: 1, workflows: n, seconds: s, per_s: n / s };
} else throw new Error('mode: closed | batch');
result.poll_ms = POLL_MS;
result.version = JSON.parse(await import('node:fs').then(fs => fs.readFileSync(new URL('./node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url)))).version;
console.log(JSON.stringify(result));
await DBOS.shutdown();
process.exit(0);
