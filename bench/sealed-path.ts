/**
 * Sealed path vs plain path, side by side in one run, on loopback: a gateway
 * and a demo-backend worker (simulated TEE) in child processes, the client in
 * this process.
 *
 *   node bin/run-ts.mjs bench/sealed-path.ts
 *   N=300 ROUNDS=6 CHUNKS=20000 node bin/run-ts.mjs bench/sealed-path.ts
 *
 * 1. Time to first token (TTFT) of a streamed chat completion, once verdicts
 *    are cached (and sealedFetch's prepared encapsulations are warm): plain (`POST /v1/chat/completions`) vs sealed through
 *    `sealedFetch` with X-Wing (the default) and with X25519. Requests run one
 *    at a time, in interleaved batches so machine drift hits every variant.
 *    TTFT = request start → first SSE event with a non-empty delta.content in
 *    the caller's hands. Also the time to the last byte.
 * 2. Per-chunk cost of an SSE-sized chunk (default 160 B): worker side
 *    (ResponseSealer.seal + the receipt digest), client side (the SDK's
 *    incremental opener: ResponseOpener.push + digest + SSE event gate, read
 *    through a ReadableStream as sealedFetch does), and chunks/s per core
 *    from CPU time.
 * 3. End to end: a long streamed completion through both paths, client CPU
 *    per chunk and chunks/s.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { createSealedClient } from '../sdk/client/sealed-fetch.ts';
import { SealedMessageReader, SseGate } from '../sdk/client/sealed-response.ts';
import { ed25519 } from '@noble/curves/ed25519.js';
import { generateRecipientKeys, openRequest, prepareSender, sealRequest, signReceipt, verifyReceipt, type KemName, type PreparedSender } from '../sdk/protocol/index.ts';
import { nativeSupport } from '../sdk/hpke/index.ts';
import { benchState, pct, start } from './util.ts';

const N = Number(process.env.N ?? 300);
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const CHUNKS = Number(process.env.CHUNKS ?? 20_000);
const CHUNK_BYTES = Number(process.env.CHUNK_BYTES ?? 160);
/**
 * Delay between demo tokens, ms. Real models emit a token every 10–50 ms; with 0 the whole
 * answer arrives at once and "time to first token" would include every chunk's processing.
 */
const TOKEN_DELAY_MS = Number(process.env.TOKEN_DELAY_MS ?? 5);

/** Idle time between TTFT requests, ms: lets the previous request's receipt (worker → gateway) settle first. */
const PAUSE_MS = Number(process.env.PAUSE_MS ?? 0);
const MODEL = 'sealgate-demo';


const median = (xs: number[]) => pct(xs, 50);
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const SHORT = [{ role: 'user', content: 'The launch moved to Friday because QA found a blocking bug. Alice fixes it by Wednesday.' }];
const LONG = [
  {
    role: 'user',
    content: Array.from(
      { length: 40 },
      (_, i) => `Team ${i} reports that milestone ${i} moved to week ${i + 2} because the vendor shipped part ${i * 7} late and QA found defect ${i * 13} in the payment flow.`,
    ).join(' '),
  },
];

const FIRST_CONTENT = /"content":"[^"]/;

/** One streamed request; returns ms to the first content event and to the end, and the number of SSE events. */
async function streamOnce(doFetch: typeof fetch, url: string, key: string, messages: unknown): Promise<{ ttft: number; total: number; events: number }> {
  const t0 = performance.now();
  const res = await doFetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages, stream: true }),
  });
  if (res.status !== 200 || !res.body) throw new Error(`${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let ttft = -1;
  let text = '';
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    const s = dec.decode(r.value, { stream: true });
    if (ttft < 0 && FIRST_CONTENT.test(s)) ttft = performance.now() - t0;
    text += s;
  }
  const total = performance.now() - t0;
  if (!text.endsWith('data: [DONE]\n\n')) throw new Error('stream did not complete');
  return { ttft, total, events: text.split('\n\n').length - 1 };
}

// --- 2. per-chunk micro-benchmark ------------------------------------------

function sseChunk(i: number): Uint8Array {
  const base = `data: {"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk","created":1795300000,"model":"${MODEL}","choices":[{"index":0,"delta":{"content":" w${i % 1000}"},"finish_reason":null}]}\n\n`;
  const b = new TextEncoder().encode(base.padEnd(CHUNK_BYTES - 2, ' ').slice(0, Math.max(base.length, CHUNK_BYTES - 2)));
  return b;
}

async function perChunk(kem: KemName) {
  const keys = generateRecipientKeys();
  const pk = kem === 'X25519' ? keys.x25519.publicKey : keys.xwing.publicKey;
  const aad = new TextEncoder().encode('{"endpoint":"chat.completions","model":"m","worker":"wk_0"}');
  const chunks = Array.from({ length: 64 }, (_, i) => sseChunk(i));
  const sealCpu: number[] = [];
  const openCpu: number[] = [];
  const openWall: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    const { message, opener } = await sealRequest({ recipient: { kem, publicKey: pk }, body: new Uint8Array(100), aad });
    const { sealer } = await openRequest({ keys, message, aad });
    // Worker side: seal each chunk and hash it for the receipt, as enclave-runner/sealed.ts does.
    const hash = sha256.create();
    const frames: Uint8Array[] = new Array(CHUNKS + 1);
    const c0 = cpuUs();
    for (let i = 0; i < CHUNKS; i++) {
      const f = sealer.seal(chunks[i & 63]!, { final: false });
      hash.update(f);
      frames[i] = f;
    }
    hash.digest();
    frames[CHUNKS] = sealer.seal(new TextEncoder().encode('{"receipt":null}'), { final: true });
    const sealUs = (cpuUs() - c0) / CHUNKS;
    // Client side: the SDK's reader over a stream (one transport read per frame), plus the SSE gate.
    let k = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (k < frames.length) ctl.enqueue(frames[k++]!);
        else ctl.close();
      },
    });
    const reader = new SealedMessageReader(body, opener);
    const gate = new SseGate();
    let got = 0;
    const c1 = cpuUs();
    const t1 = performance.now();
    for (;;) {
      const m = await reader.next();
      if (m.final) break;
      got += gate.push(m.bytes).length;
    }
    const openUs = (cpuUs() - c1) / CHUNKS;
    const wallUs = ((performance.now() - t1) * 1000) / CHUNKS;
    void reader.responseDigest;
    if (got !== CHUNKS) throw new Error(`bench: ${got} events released, expected ${CHUNKS}`);
    if (r > 0) {
      sealCpu.push(sealUs);
      openCpu.push(openUs);
      openWall.push(wallUs);
    }
  }
  return { seal: median(sealCpu), open: median(openCpu), openWall: median(openWall) };
}

/**
 * Cost of the per-request operations on the sealed critical path (median ms):
 * CPU time of the whole process (Web Crypto work on libuv threads included)
 * and wall time (what TTFT sees), one operation in flight.
 */
async function perRequest() {
  const keys = generateRecipientKeys();
  const aad = new TextEncoder().encode('{"endpoint":"chat.completions","model":"m","worker":"wk_0"}');
  const body = new TextEncoder().encode(JSON.stringify({ model: MODEL, messages: SHORT, stream: true }));
  const time = async (f: () => unknown, n: number) => {
    const xs: number[] = [];
    const ws: number[] = [];
    for (let i = 0; i < n + 5; i++) {
      const c = cpuUs();
      const w = performance.now();
      await f();
      if (i >= 5) {
        xs.push((cpuUs() - c) / 1000);
        ws.push(performance.now() - w);
      }
    }
    return { cpu: median(xs), wall: median(ws) };
  };
  const out: Record<string, { cpu: number; wall: number }> = {};
  for (const kem of ['X-Wing', 'X25519'] as const) {
    const pk = kem === 'X25519' ? keys.x25519.publicKey : keys.xwing.publicKey;
    out[`client sealRequest, encapsulating inline (${kem})`] = await time(() => sealRequest({ recipient: { kem, publicKey: pk }, body, aad }), 60);
    // sealedFetch's path: the encapsulation was prepared beforehand (SenderPool), each used once.
    out[`client prepareSender (${kem}), between requests`] = await time(() => prepareSender({ kem, publicKey: pk }), 60);
    const ready: PreparedSender[] = [];
    for (let j = 0; j < 70; j++) ready.push(await prepareSender({ kem, publicKey: pk }));
    let k = 0;
    out[`client sealRequest with a prepared sender (${kem})`] = await time(() => sealRequest({ recipient: { kem, publicKey: pk }, body, aad, prepared: ready[k++]! }), 60);
    const msgs: Uint8Array[] = [];
    for (let j = 0; j < 70; j++) msgs.push((await sealRequest({ recipient: { kem, publicKey: pk }, body, aad })).message);
    let i = 0;
    out[`worker openRequest (${kem})`] = await time(() => openRequest({ keys, message: msgs[i++]!, aad }), 60);
  }
  const sk = ed25519.utils.randomSecretKey();
  const pk = ed25519.getPublicKey(sk);
  const unsigned = { v: 1 as const, requestId: 'req_0', workerId: 'wk_0', model: MODEL, endpoint: 'chat.completions', promptTokens: 10, completionTokens: 20, requestDigest: '00'.repeat(32), responseDigest: '00'.repeat(32), time: 0, account: 'acct_' + '0'.repeat(32), price: { prompt: '200', completion: '600' } };
  out['worker signReceipt (Ed25519)'] = await time(() => signReceipt(unsigned, sk), 60);
  const r = await signReceipt(unsigned, sk);
  out['client verifyReceipt (Ed25519)'] = await time(() => verifyReceipt(r, pk), 60);
  return out;
}

// --- setup ------------------------------------------------------------------

const { dir, db, key } = await benchState();

const procs: ChildProcess[] = [];
const load0 = loadavg();
const startedAt = new Date().toISOString();
try {
  const gw = await start(
    ['bin/sealgate.mjs', 'gateway', '--port', '0', '--db', db, '--policy', join(dir, 'policy.json'), '--quiet'],
    /listening on (\S+)/,
  );
  procs.push(gw.proc);
  const gatewayUrl = gw.match[1]!;
  const wk = await start(['bin/sealgate.mjs', 'worker', '--gateway', gatewayUrl, '--backend', 'demo', '--demo-delay-ms', String(TOKEN_DELAY_MS)], /serving at/);
  procs.push(wk.proc);

  // Bench policy: simulated evidence from any signer (the worker runs in a child process).
  const policy = { allowSimulated: true };
  const plainFetch: typeof fetch = (i, n) => fetch(i, n);
  const xwing = createSealedClient({ policy, select: 'first' }).fetch;
  const x25519 = createSealedClient({ policy, select: 'first', allowKems: ['X25519'] }).fetch;
  const url = `${gatewayUrl}/v1/chat/completions`;
  const variants: Array<[string, typeof fetch]> = [
    ['plain', plainFetch],
    ['sealed, X-Wing', xwing],
    ['sealed, X25519', x25519],
  ];

  // Warm up: connections, JIT, and the sealed clients' worker lists and verdicts.
  for (let i = 0; i < 30; i++) for (const [, f] of variants) await streamOnce(f, url, key, SHORT);

  const ttft = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  const total = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  const BATCH = 25;
  for (let done = 0; done < N; done += BATCH) {
    for (const [name, f] of variants) {
      for (let i = 0; i < BATCH; i++) {
        if (PAUSE_MS) await new Promise((res) => setTimeout(res, PAUSE_MS));
        const r = await streamOnce(f, url, key, SHORT);
        ttft.get(name)!.push(r.ttft);
        total.get(name)!.push(r.total);
      }
    }
  }

  // End to end: long streams, client CPU per SSE event.
  const e2e = new Map<string, { cpuPerChunk: number; chunksPerSec: number; events: number }>();
  for (const [name, f] of variants) {
    let events = 0;
    let wall = 0;
    const c0 = cpuUs();
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const r = await streamOnce(f, url, key, LONG);
      wall += performance.now() - t;
      events += r.events;
    }
    const cpu = cpuUs() - c0;
    e2e.set(name, { cpuPerChunk: cpu / events, chunksPerSec: events / (wall / 1000), events: events / 20 });
  }

  const micro = { 'X-Wing': await perChunk('X-Wing'), X25519: await perChunk('X25519') };
  const requestCosts = await perRequest();

  // --- report ---------------------------------------------------------------
  const f3 = (x: number) => x.toFixed(3);
  const p = (name: string, q: number) => pct(ttft.get(name)!, q);
  const tp = (name: string, q: number) => pct(total.get(name)!, q);
  const out: string[] = [];
  out.push(`sealed vs plain path on loopback — demo backend (${TOKEN_DELAY_MS} ms between tokens), 1 request in flight, ${N} streamed requests per variant in interleaved batches of ${BATCH}${PAUSE_MS ? `, ${PAUSE_MS} ms idle between requests` : ', back to back'}, after warm-up (verdicts cached)`);
  out.push(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; started ${startedAt}, load average ${load0.map((x) => x.toFixed(2)).join(' ')} → ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  out.push('');
  out.push('| streamed chat completion | plain | sealed, X-Wing | added | ratio | sealed, X25519 | added | ratio |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const q of [50, 99]) {
    out.push(
      `| TTFT p${q} (ms) | ${f3(p('plain', q))} | ${f3(p('sealed, X-Wing', q))} | ${f3(p('sealed, X-Wing', q) - p('plain', q))} | ${(p('sealed, X-Wing', q) / p('plain', q)).toFixed(2)} | ${f3(p('sealed, X25519', q))} | ${f3(p('sealed, X25519', q) - p('plain', q))} | ${(p('sealed, X25519', q) / p('plain', q)).toFixed(2)} |`,
    );
  }
  for (const q of [50, 99]) {
    out.push(
      `| last byte p${q} (ms) | ${f3(tp('plain', q))} | ${f3(tp('sealed, X-Wing', q))} | ${f3(tp('sealed, X-Wing', q) - tp('plain', q))} | ${(tp('sealed, X-Wing', q) / tp('plain', q)).toFixed(2)} | ${f3(tp('sealed, X25519', q))} | ${f3(tp('sealed, X25519', q) - tp('plain', q))} | ${(tp('sealed, X25519', q) / tp('plain', q)).toFixed(2)} |`,
    );
  }
  out.push('');
  const pl = e2e.get('plain')!;
  out.push(`| long stream (≈${Math.round(pl.events)} SSE events), client side | plain | sealed, X-Wing | ratio | sealed, X25519 | ratio |`);
  out.push('|---|---|---|---|---|---|');
  const xw = e2e.get('sealed, X-Wing')!;
  const xx = e2e.get('sealed, X25519')!;
  out.push(`| client CPU per event (µs) | ${pl.cpuPerChunk.toFixed(2)} | ${xw.cpuPerChunk.toFixed(2)} | ${(xw.cpuPerChunk / pl.cpuPerChunk).toFixed(2)} | ${xx.cpuPerChunk.toFixed(2)} | ${(xx.cpuPerChunk / pl.cpuPerChunk).toFixed(2)} |`);
  out.push(`| events/s, one stream end to end | ${Math.round(pl.chunksPerSec)} | ${Math.round(xw.chunksPerSec)} | ${(xw.chunksPerSec / pl.chunksPerSec).toFixed(2)} | ${Math.round(xx.chunksPerSec)} | ${(xx.chunksPerSec / pl.chunksPerSec).toFixed(2)} |`);
  out.push('');
  out.push(`| per ${CHUNK_BYTES}-byte SSE chunk, ChaCha20-Poly1305, CPU time, median of ${ROUNDS} × ${CHUNKS} | worker: seal + digest | client: open + digest + SSE gate (stream read) | seal + open | chunks/s/core (seal+open) |`);
  out.push('|---|---|---|---|---|');
  for (const [kem, m] of Object.entries(micro)) {
    const both = m.seal + m.open;
    out.push(`| request KEM ${kem} | ${m.seal.toFixed(2)} µs | ${m.open.toFixed(2)} µs (wall ${m.openWall.toFixed(2)} µs) | ${both.toFixed(2)} µs | ${Math.round(1e6 / both).toLocaleString('en-US')} |`);
  }
  out.push('');
  const impl = await nativeSupport();
  out.push(`| per request (median), X25519 via ${impl.x25519}, Ed25519 via ${impl.ed25519}, ML-KEM-768 via sdk/hpke/mlkem768.ts | CPU ms | wall ms |`);
  out.push('|---|---|---|');
  for (const [k, v] of Object.entries(requestCosts)) out.push(`| ${k} | ${v.cpu.toFixed(3)} | ${v.wall.toFixed(3)} |`);
  out.push('On the TTFT critical path: client sealRequest with a prepared sender (sealedFetch keeps 2 ready per verified worker key and refills once the response that took one has its first bytes out) + worker openRequest; the receipt is signed and checked after the last token.');
  out.push('');
  out.push('Targets (issue 4): added TTFT < 1 ms; seal+open < 20 µs per chunk; > 50,000 chunks/s/core.');
  console.log(out.join('\n'));
} finally {
  for (const proc of procs.reverse()) proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}
