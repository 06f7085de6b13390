/**
 * Plain-path overhead: the same load on loopback against a fake
 * OpenAI-compatible upstream, directly and through gateway + worker, in one
 * run. Reports requests/s and latency p50/p99, and the ratios.
 *
 *   npm run bench            (defaults: 500 req/s for 10 s, then closed loop at 32 in flight for 5 s)
 *   RATE=500 SECONDS=10 CONCURRENCY=32 node bin/run-ts.mjs bench/plain-path.ts
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { benchState, pct, start } from './util.ts';

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
  return { lat, rps: n / ((performance.now() - t0) / 1000) };
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
  // Warm up both paths.
  await openLoop(direct, directPath, key, RATE, 1);
  await openLoop(via, '/v1/chat/completions', key, RATE, 1);
  await openLoop(minimal, '/', key, RATE, 1);

  // Interleave halves so drift on the machine hits both sides alike.
  const d1 = await openLoop(direct, directPath, key, RATE, SECONDS / 2);
  const g1 = await openLoop(via, '/v1/chat/completions', key, RATE, SECONDS / 2);
  const m1 = await openLoop(minimal, '/', key, RATE, SECONDS / 2);
  const d2 = await openLoop(direct, directPath, key, RATE, SECONDS / 2);
  const g2 = await openLoop(via, '/v1/chat/completions', key, RATE, SECONDS / 2);
  const m2 = await openLoop(minimal, '/', key, RATE, SECONDS / 2);
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
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
  console.log(rows.map((r) => `| ${r.join(' | ')} |`).join('\n'));
  await direct.close();
  await via.close();
  await minimal.close();
} finally {
  for (const p of procs.reverse()) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}
