// DBOS Transact: the seed's 3-step workflow started through a WorkflowQueue.
// Usage: node bench.mjs <systemDatabaseUrl> <workflows> <clients>
// The queue polls every 10 ms (its fastest setting; the default is 1 s) and runs
// DBOS_CONCURRENCY (4) workflows at once, as stategraph.max_workers = 4.
import pkg from "@dbos-inc/dbos-sdk";
const { DBOS } = pkg;

const [url, nArg, cArg] = process.argv.slice(2);
const N = Number(nArg ?? 500), C = Number(cArg ?? 1);

async function step(n, state) {
  return { step: n, messages: [...state.messages, `Step ${n} complete`] };
}
const workflow = DBOS.registerWorkflow(async function seedWorkflow(input) {
  let state = { messages: [], step: 0, data: input };
  state = await DBOS.runStep(() => step(1, state), { name: "step1" });
  state = await DBOS.runStep(() => step(2, state), { name: "step2" });
  state = await DBOS.runStep(() => step(3, state), { name: "step3" });
  return state;
}, { name: "seedWorkflow" });

DBOS.setConfig({ name: "sgbench", systemDatabaseUrl: url, logLevel: "error" });
await DBOS.launch();
const queue = await DBOS.registerQueue("seed_queue", { workerConcurrency: Number(process.env.DBOS_CONCURRENCY ?? 4), minPollingIntervalMs: 10 });
// warm-up
await (await DBOS.startWorkflow(workflow, { queueName: queue.name })("x")).getResult({ pollingIntervalMs: 10 });
const t0 = performance.now();
const handles = [];
await Promise.all(Array.from({ length: C }, async () => {
  for (let i = 0; i < N / C; i++)
    handles.push(await DBOS.startWorkflow(workflow, { queueName: queue.name })("x"));
}));
for (const h of handles) {
  const r = await h.getResult({ pollingIntervalMs: 10 });
  if (r.step !== 3) throw new Error("bad result");
}
const secs = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ clients: C, workflows: handles.length, seconds: secs, per_second: handles.length / secs }));
await DBOS.shutdown();
process.exit(0);
