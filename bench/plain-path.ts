/**
 * Plain-path overhead: the same load on loopback against a fake
 * OpenAI-compatible upstream, directly and through gateway + worker, in one
 * run. Reports requests/s and latency p50/p99, and the ratios.
 *
 *   npm run bench            (defaults: 3 s warm-up per path, 500 req/s for 10 s, then closed loop at 32 in flight for 5 s)
 *   RATE=500 SECONDS=10 CONCURRENCY=32 WARMUP=3 node bin/run-ts.mjs bench/plain-path.ts
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { benchState, cpuNs, pct, start } from './util.ts';

const RATE = Number(process.env.RATE ?? 500);
const SECONDS = Number(process.env.SECONDS ?? 10);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);


const body = JSON.stringify({ model: 'bench-llm', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 });

async function one(pool: Pool, path: string, key: string): Promise<number> {
  const t = performance.now();
  const r = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body });
  const text = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${text}`);
  return performance.now() - t;
}

/** CPU µs per request used by each process in `pids` while `run` sent `n` requests (Linux only). */
const cpu: Record<string, { ns: number; n: number }> = {};
async function measured<T extends { n: number }>(pids: Record<string, number>, run: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuNs(p)]));
  const r = await run();
  for (const [k, p] of Object.entries(pids)) {
    const a = before[k];
    const b = cpuNs(p);
    if (a == null || b == null) continue;
    const c = (cpu[k] ??= { ns: 0, n: 0 });
    c.ns += b - a;
    c.n += r.n;
  }
  return r;
}

/** Open loop at a fixed rate: latency per request, and the achieved rate. */
async function openLoop(pool: Pool, path: string, key: string, rate: number, seconds: number) {
  const n = Math.round(rate * seconds);
  const lat: number[] = [];
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(pool, path, key).then((ms) => void lat.push(ms)));
  }
  await Promise.all(pending);
  return { lat, n, rps: n / ((performance.now() - t0) / 1000) };
}

/** Closed loop: `concurrency` requests always in flight; throughput. */
async function closedLoop(pool: Pool, path: string, key: string, concurrency: number, seconds: number) {
  let count = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await one(pool, path, key);
        count++;
      }
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}


const loadavg = () => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim();
  } catch {
    return 'n/a';
  }
};
const loadBefore = loadavg();
const { dir, db, key } = await benchState();

const procs: ChildProcess[] = [];
try {
  const up = await start(['bin/run-ts.mjs', 'bench/upstream-entry.ts'], /UPSTREAM (\S+)/);
  procs.push(up.proc);
  const upstreamUrl = up.match[1]!;
  const gw = await start(
    [...(process.env.PROF_GATEWAY ? ['--cpu-prof', '--cpu-prof-dir=/tmp/gwprof'] : []), 'bin/sealgate.mjs', 'gateway', '--port', '0', '--db', db, '--policy', join(dir, 'policy.json'), '--quiet'],
    /listening on (\S+)/,
  );
  procs.push(gw.proc);
  const gatewayUrl = gw.match[1]!;
  const wk = await start(
    [...(process.env.PROF_WORKER ? ['--cpu-prof', '--cpu-prof-dir=/tmp/wkprof'] : []), 'bin/sealgate.mjs', 'worker', '--gateway', gatewayUrl, '--backend', 'openai', '--upstream', upstreamUrl, '--model', 'bench-llm'],
    /serving at/,
  );
  procs.push(wk.proc);

  // Floor for the added cost: the same two extra hops, each the smallest possible Node proxy.
  const hop1 = await start(['bin/run-ts.mjs', 'bench/minimal-proxy-entry.ts', upstreamUrl], /PROXY (\S+)/);
  procs.push(hop1.proc);
  const hop2 = await start(['bin/run-ts.mjs', 'bench/minimal-proxy-entry.ts', `${hop1.match[1]}/v1`], /PROXY (\S+)/);
  procs.push(hop2.proc);
  const minimal = new Pool(hop2.match[1]!, { connections: 64 });

  const direct = new Pool(new URL(upstreamUrl).origin, { connections: 64 });
  const via = new Pool(gatewayUrl, { connections: 64 });
  const directPath = '/v1/chat/completions';
  // Warm up every path (JIT) before measuring.
  const WARMUP = Number(process.env.WARMUP ?? 3);
  await openLoop(direct, directPath, key, RATE, WARMUP);
  await openLoop(via, '/v1/chat/completions', key, RATE, WARMUP);
  await openLoop(minimal, '/', key, RATE, WARMUP);

  // Interleave halves so drift on the machine hits both sides alike.
  const pid = (p: ChildProcess) => p.pid!;
  const gwPids = { 'upstream (via gateway)': pid(up.proc), gateway: pid(gw.proc), worker: pid(wk.proc) };
  const minPids = { 'upstream (via minimal)': pid(up.proc), 'minimal hop 2': pid(hop2.proc), 'minimal hop 1': pid(hop1.proc) };
  const d1 = await measured({ 'upstream (direct)': pid(up.proc) }, () => openLoop(direct, directPath, key, RATE, SECONDS / 2));
  const g1 = await measured(gwPids, () => openLoop(via, '/v1/chat/completions', key, RATE, SECONDS / 2));
  const m1 = await measured(minPids, () => openLoop(minimal, '/', key, RATE, SECONDS / 2));
  const d2 = await measured({ 'upstream (direct)': pid(up.proc) }, () => openLoop(direct, directPath, key, RATE, SECONDS / 2));
  const g2 = await measured(gwPids, () => openLoop(via, '/v1/chat/completions', key, RATE, SECONDS / 2));
  const m2 = await measured(minPids, () => openLoop(minimal, '/', key, RATE, SECONDS / 2));
  const dl = [...d1.lat, ...d2.lat];
  const gl = [...g1.lat, ...g2.lat];
  const ml = [...m1.lat, ...m2.lat];
  const dRps = await closedLoop(direct, directPath, key, CONCURRENCY, 5);
  const gRps = await closedLoop(via, '/v1/chat/completions', key, CONCURRENCY, 5);
  const mRps = await closedLoop(minimal, '/', key, CONCURRENCY, 5);

  const f = (x: number) => x.toFixed(3);
  const rows = [
    ['', 'direct', 'via gateway+worker', 'via 2 minimal proxy hops', 'added: gateway+worker', 'added: minimal hops', 'ratio gateway+worker / minimal'],
    ...([50, 99] as const).map((p) => [
      `p${p} latency (ms)`,
      f(pct(dl, p)),
      f(pct(gl, p)),
      f(pct(ml, p)),
      f(pct(gl, p) - pct(dl, p)),
      f(pct(ml, p) - pct(dl, p)),
      ((pct(gl, p) - pct(dl, p)) / (pct(ml, p) - pct(dl, p))).toFixed(2),
    ]),
    ['open-loop rate achieved (req/s)', ((d1.rps + d2.rps) / 2).toFixed(0), ((g1.rps + g2.rps) / 2).toFixed(0), ((m1.rps + m2.rps) / 2).toFixed(0), '', '', ''],
    [`max throughput, ${CONCURRENCY} in flight (req/s)`, dRps.toFixed(0), gRps.toFixed(0), mRps.toFixed(0), '', '', (gRps / mRps).toFixed(2)],
  ];
  console.log(`plain path, non-streaming, ${RATE} req/s open loop for ${SECONDS}s per side (${dl.length} requests each)`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; load average before: ${loadBefore}, after: ${loadavg()}`);
  console.log(rows.map((r) => `| ${r.join(' | ')} |`).join('\n'));
  if (Object.keys(cpu).length) {
    console.log(`\nCPU per request during the open-loop halves (µs, all threads, /proc schedstat):`);
    console.log(Object.entries(cpu).map(([k, c]) => `| ${k} | ${(c.ns / c.n / 1000).toFixed(0)} |`).join('\n'));
  }
  await direct.close();
  await via.close();
  await minimal.close();
} finally {
  for (const p of procs.reverse()) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}
