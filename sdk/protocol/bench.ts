/**
 * Per-chunk cost of the sealed response path, and per-request cost of the
 * sealed request path. Run: node bin/run-ts.mjs sdk/protocol/bench.ts [--chunk 100] [--rounds 7]
 *
 * "seal+open per chunk" = ResponseSealer.seal (AEAD + framing) on the worker
 * plus ResponseOpener.push (parse + AEAD open) on the client, for one chunk,
 * on one thread — so chunks/s/core = 1e6 / (µs per chunk).
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DHKEM_X25519, XWING, aeadByName, utf8, type AeadName, type KemName } from '../hpke/hpke.ts';
import { openRequest, prepareSender, sealRequest } from './request.ts';

type Proc = { argv?: string[]; cpuUsage?: () => { user: number; system: number } };
const proc = (globalThis as { process?: Proc }).process;
const args = proc?.argv ?? [];
/** CPU time of this process in µs when the runtime exposes it (Node), else wall time. */
const cpuUs = (): number => {
  const u = proc?.cpuUsage?.();
  return u ? u.user + u.system : performance.now() * 1000;
};
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const CHUNK = arg('chunk', 100);
const ROUNDS = arg('rounds', 7);
const N = arg('n', 20_000);

const keys = {
  x25519: DHKEM_X25519.deriveKeyPair(utf8('bench x25519')),
  xwing: XWING.deriveKeyPair(utf8('bench xwing')),
};
const aad = utf8('{"model":"demo-1","workerId":"worker-0001"}');
const body = new Uint8Array(2_000).fill(0x61);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function benchChunks(aead: AeadName): Promise<{ medianUs: number; bestUs: number; cpuMedianUs: number }> {
  const pt = new Uint8Array(CHUNK);
  for (let i = 0; i < CHUNK; i++) pt[i] = 0x20 + (i % 90);
  const results: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    const { message, opener } = await sealRequest({ recipient: { kem: 'X25519', publicKey: keys.x25519.publicKey }, aead, body, aad });
    const { sealer } = await openRequest({ keys, message, aad });
    const c0 = cpuUs();
    const t0 = performance.now();
    let got = 0;
    for (let i = 0; i < N; i++) {
      const framed = sealer.seal(pt, { final: i === N - 1 });
      got += opener.push(framed).length;
    }
    opener.end();
    const us = ((performance.now() - t0) * 1000) / N;
    const cus = (cpuUs() - c0) / N;
    if (got !== N) throw new Error('bench: chunk count mismatch');
    if (r > 0) {
      // round 0 is warm-up
      results.push(us);
      cpu.push(cus);
    }
  }
  return { medianUs: median(results), bestUs: Math.min(...results), cpuMedianUs: median(cpu) };
}

/**
 * Reference: the bare AEAD, seal + open of one chunk, without framing or nonce handling —
 * `@noble/ciphers` called per chunk, and the keyed AEAD the protocol uses (key expanded once).
 */
function benchRawAead(aead: AeadName, impl: 'noble' | 'keyed'): number {
  const a = aeadByName(aead);
  const key = new Uint8Array(a.Nk).fill(7);
  const nonce = new Uint8Array(a.Nn);
  const pt = new Uint8Array(CHUNK).fill(0x41);
  const empty = new Uint8Array(0);
  const keyed = a.keyed(key);
  const noble = aead === 'AES-128-GCM' ? gcm : chacha20poly1305;
  const cpu: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    const c0 = cpuUs();
    for (let i = 0; i < N; i++) {
      nonce[11] = i & 0xff;
      if (impl === 'keyed') keyed.open(nonce, empty, keyed.seal(nonce, empty, pt));
      else noble(key, nonce, empty).decrypt(noble(key, nonce, empty).encrypt(pt));
    }
    if (r > 0) cpu.push((cpuUs() - c0) / N);
  }
  return median(cpu);
}

async function benchRequests(kem: KemName, aead: AeadName): Promise<{ sealUs: number; preparedSealUs: number; openUs: number }> {
  const recipient = { kem, publicKey: kem === 'X25519' ? keys.x25519.publicKey : keys.xwing.publicKey };
  const n = kem === 'X25519' ? 300 : 100;
  const seal: number[] = [];
  const preparedSeal: number[] = [];
  const open: number[] = [];
  for (let r = 0; r < 4; r++) {
    const msgs: Uint8Array[] = [];
    let t0 = performance.now();
    for (let i = 0; i < n; i++) msgs.push((await sealRequest({ recipient, aead, body, aad })).message);
    const s = ((performance.now() - t0) * 1000) / n;
    // With the encapsulation prepared beforehand (SenderPool): what remains on the request's path.
    const prepared = [];
    for (let i = 0; i < n; i++) prepared.push(await prepareSender(recipient, aead));
    t0 = performance.now();
    for (const p of prepared) await sealRequest({ recipient, aead, body, aad, prepared: p });
    const ps = ((performance.now() - t0) * 1000) / n;
    t0 = performance.now();
    for (const message of msgs) await openRequest({ keys, message, aad });
    const o = ((performance.now() - t0) * 1000) / n;
    if (r > 0) {
      seal.push(s);
      preparedSeal.push(ps);
      open.push(o);
    }
  }
  return { sealUs: median(seal), preparedSealUs: median(preparedSeal), openUs: median(open) };
}

const lines: string[] = [];
lines.push(`sealgate protocol bench — chunk ${CHUNK} B, ${N} chunks x ${ROUNDS} rounds (after 1 warm-up), single thread`);
lines.push('');
lines.push('| AEAD | seal+open per chunk, wall (median) | wall, best round | CPU time per chunk (median) | chunks/s/core (from CPU time) |');
lines.push('|---|---|---|---|---|');
for (const aead of ['ChaCha20-Poly1305', 'AES-128-GCM'] as const) {
  const { medianUs, bestUs, cpuMedianUs } = await benchChunks(aead);
  lines.push(
    `| ${aead} | ${medianUs.toFixed(2)} µs | ${bestUs.toFixed(2)} µs | ${cpuMedianUs.toFixed(2)} µs | ${Math.round(1e6 / cpuMedianUs).toLocaleString('en-US')} |`,
  );
}
lines.push('');
lines.push('Reference, bare AEAD seal+open of one chunk (CPU time, median): ' +
  (['ChaCha20-Poly1305', 'AES-128-GCM'] as const)
    .map((a) => `${a} @noble/ciphers per call ${benchRawAead(a, 'noble').toFixed(2)} µs, keyed (protocol) ${benchRawAead(a, 'keyed').toFixed(2)} µs`)
    .join('; '));
lines.push('');
lines.push(`| request (${body.length} B body), wall | sealRequest (client) | sealRequest with a prepared sender (client, SenderPool) | openRequest (worker) |`);
lines.push('|---|---|---|---|');
for (const kem of ['X25519', 'X-Wing'] as const) {
  const { sealUs, preparedSealUs, openUs } = await benchRequests(kem, 'ChaCha20-Poly1305');
  lines.push(`| ${kem} + ChaCha20-Poly1305 | ${(sealUs / 1000).toFixed(3)} ms | ${(preparedSealUs / 1000).toFixed(3)} ms | ${(openUs / 1000).toFixed(3)} ms |`);
}
console.log(lines.join('\n'));
