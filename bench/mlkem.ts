/**
 * ML-KEM-768 and SHA-3: ours (sdk/hpke/mlkem768.ts, sdk/hpke/keccak.ts) vs
 * `@noble/post-quantum` 0.7.1 / `@noble/hashes` on the same inputs, in one
 * run. Every call is timed on its own; ours and noble alternate in batches
 * (which one goes first alternates too), so background load hits both alike.
 *
 *   node bin/run-ts.mjs bench/mlkem.ts
 *   ROUNDS=40 BATCH=50 node bin/run-ts.mjs bench/mlkem.ts
 *
 * Rows: decapsulation and encapsulation with a prepared key (the worker's and
 * sealedFetch's hot paths), key generation, SHA3-256 of 1088 B (H of a
 * ciphertext-sized input), SHAKE256 1120 B → 32 B (ML-KEM's J(z ‖ c)), and
 * X-Wing decapsulation through hpke.ts (`XWING.decap`, X25519 on Web Crypto
 * overlapping ML-KEM) vs the same code path over noble, as hpke.ts had it.
 */
import { cpus, loadavg } from 'node:os';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import * as nobleSha3 from '@noble/hashes/sha3.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { XWING, concat } from '../sdk/hpke/hpke.ts';
import { sha3_256, shake128, shake256 } from '../sdk/hpke/keccak.ts';
import { keygen, prepareDecapsulationKey, prepareEncapsulationKey } from '../sdk/hpke/mlkem768.ts';
import { nativeSupport, x25519Dh, x25519Secret } from '../sdk/hpke/native.ts';
import { pct } from './util.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 30);
const BATCH = Number(process.env.BATCH ?? 40);
const LOAD_START = loadavg().map((x) => x.toFixed(2)).join(' ');

// Deterministic inputs shared by both sides.
const stream = shake128().update(new TextEncoder().encode('sealgate bench/mlkem.ts'));
const bytes = (n: number): Uint8Array => stream.squeeze(new Uint8Array(n));
const POOL = 64;
const seed = bytes(64);
const nk = ml_kem768.keygen(seed);
const oursDk = prepareDecapsulationKey(nk.secretKey);
const oursEk = prepareEncapsulationKey(nk.publicKey);
const nobleEk = ml_kem768.prepare(nk.publicKey);
const msgs = Array.from({ length: POOL }, () => bytes(32));
const seeds = Array.from({ length: POOL }, () => bytes(64));
const cts = msgs.map((m) => ml_kem768.encapsulate(nk.publicKey, m).cipherText);
const h1088 = Array.from({ length: POOL }, () => bytes(1088));
const s1120 = Array.from({ length: POOL }, () => bytes(1120));

// X-Wing: one recipient key; the noble side is hpke.ts's previous X-Wing decap, over noble.
const xwSk = bytes(32);
const xwPk = XWING.publicKeyOf(xwSk);
const xwEncs: Uint8Array[] = [];
for (let i = 0; i < POOL; i++) xwEncs.push((await XWING.encap(xwPk)).enc);
const LABEL = Uint8Array.of(0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c);
const nobleXwingDecap = (() => {
  const expanded = nobleSha3.shake256(xwSk, { dkLen: 96 });
  const { publicKey: pkM, secretKey: dkM } = ml_kem768.keygen(expanded.subarray(0, 64));
  const skX = expanded.slice(64, 96);
  const pkX = x25519.getPublicKey(skX);
  const preparedM = ml_kem768.prepare(pkM);
  return async (enc: Uint8Array): Promise<Uint8Array> => {
    const ctM = enc.subarray(0, 1088);
    const ctX = enc.slice(1088);
    const xPart = (async () => x25519Dh(await x25519Secret(skX, true), ctX, false))();
    xPart.catch(() => {});
    const ssM = preparedM.decapsulate(ctM, dkM);
    const ssX = await xPart;
    return nobleSha3.sha3_256(concat(ssM, ssX, ctX, pkX, LABEL));
  };
})();

// Same answers on both sides before timing anything.
for (let i = 0; i < 8; i++) {
  const same = (a: Uint8Array, b: Uint8Array, what: string) => {
    if (bytesToHex(a) !== bytesToHex(b)) throw new Error(`ours and noble differ: ${what}`);
  };
  same(oursDk.decapsulate(cts[i]!), nobleEk.decapsulate(cts[i]!, nk.secretKey), 'decapsulate');
  same(oursEk.encapsulate(msgs[i]!).cipherText, nobleEk.encapsulate(msgs[i]!).cipherText, 'encapsulate');
  same(keygen(seeds[i]!.subarray(0, 32), seeds[i]!.subarray(32)).decapsulationKey, ml_kem768.keygen(seeds[i]!).secretKey, 'keygen');
  same(sha3_256(h1088[i]!), nobleSha3.sha3_256(h1088[i]!), 'sha3_256');
  same(shake256(s1120[i]!, 32), nobleSha3.shake256(s1120[i]!, { dkLen: 32 }), 'shake256');
  same(await XWING.decap(xwEncs[i]!, xwSk), await nobleXwingDecap(xwEncs[i]!), 'X-Wing decap');
}

type Op = (i: number) => unknown;
interface Row {
  name: string;
  ours: Op;
  noble: Op;
  /** Batch scale: cheap ops run more calls per batch. */
  scale: number;
}
const rows: Row[] = [
  { name: 'ML-KEM-768 decapsulate (prepared key)', ours: (i) => oursDk.decapsulate(cts[i]!), noble: (i) => nobleEk.decapsulate(cts[i]!, nk.secretKey), scale: 1 },
  { name: 'ML-KEM-768 encapsulate (prepared key)', ours: (i) => oursEk.encapsulate(msgs[i]!), noble: (i) => nobleEk.encapsulate(msgs[i]!), scale: 1 },
  {
    name: 'ML-KEM-768 keygen (d, z)',
    ours: (i) => keygen(seeds[i]!.subarray(0, 32), seeds[i]!.subarray(32)),
    noble: (i) => ml_kem768.keygen(seeds[i]!),
    scale: 0.5,
  },
  { name: 'SHA3-256, 1088 B', ours: (i) => sha3_256(h1088[i]!), noble: (i) => nobleSha3.sha3_256(h1088[i]!), scale: 2 },
  { name: 'SHAKE256, 1120 B → 32 B', ours: (i) => shake256(s1120[i]!, 32), noble: (i) => nobleSha3.shake256(s1120[i]!, { dkLen: 32 }), scale: 2 },
  { name: 'X-Wing decap via hpke.ts (X25519 on Web Crypto)', ours: (i) => XWING.decap(xwEncs[i]!, xwSk), noble: (i) => nobleXwingDecap(xwEncs[i]!), scale: 1 },
];

async function batch(op: Op, n: number, out: number[], k: { i: number }): Promise<void> {
  for (let j = 0; j < n; j++) {
    const i = k.i++ % POOL;
    const t0 = performance.now();
    const r = op(i);
    if (r instanceof Promise) await r;
    out.push((performance.now() - t0) * 1000);
  }
}

const results: { name: string; ours: number[]; noble: number[] }[] = [];
for (const row of rows) {
  const n = Math.max(1, Math.round(BATCH * row.scale));
  const ours: number[] = [];
  const noble: number[] = [];
  const k = { i: 0 };
  // warm-up (JIT) on both, untimed
  await batch(row.ours, 3 * n, [], k);
  await batch(row.noble, 3 * n, [], k);
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      await batch(row.ours, n, ours, k);
      await batch(row.noble, n, noble, k);
    } else {
      await batch(row.noble, n, noble, k);
      await batch(row.ours, n, ours, k);
    }
  }
  results.push({ name: row.name, ours, noble });
}

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const impl = await nativeSupport();
console.log(`\nmachine: nproc ${cpus().length}, ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, X25519 via ${impl.x25519}`);
console.log(`date: ${new Date().toISOString()}; load average at start ${LOAD_START}, at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`command: ROUNDS=${ROUNDS} BATCH=${BATCH} node bin/run-ts.mjs bench/mlkem.ts`);
console.log(`${ROUNDS} rounds, ours and noble alternating batch by batch; every call timed; µs\n`);
console.log('| operation | n | ours p50 | ours p99 | noble p50 | noble p99 | ours/noble p50 | ours/noble p99 |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const [o50, o99, n50, n99] = [pct(r.ours, 50), pct(r.ours, 99), pct(r.noble, 50), pct(r.noble, 99)];
  console.log(`| ${r.name} | ${r.ours.length} | ${f(o50)} | ${f(o99)} | ${f(n50)} | ${f(n99)} | ${(o50 / n50).toFixed(2)} | ${(o99 / n99).toFixed(2)} |`);
}
console.log('');
