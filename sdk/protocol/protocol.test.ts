import { describe, it, expect } from 'vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import committed from './vectors.json' with { type: 'json' };
import { buildVectors } from './vector-gen.ts';
import { openRequestDeterministic, sealRequestDeterministic } from './testing.ts';
import {
  ReplayGuard,
  SessionReceiver,
  SealError,
  bindingKeysFor,
  generateRecipientKeys,
  warmRecipientKeys,
  openRequest,
  openResponseStream,
  sealRequest,
  sealResponseStream,
  selectRecipient,
  type AeadName,
  type KemName,
  type RecipientKeys,
  type ResponseOpener,
} from './index.ts';
import { DHKEM_X25519, XWING, concat, utf8 } from '../hpke/hpke.ts';

const KEYS: Required<RecipientKeys> = {
  x25519: DHKEM_X25519.deriveKeyPair(utf8('protocol test x25519')),
  xwing: XWING.deriveKeyPair(utf8('protocol test xwing')),
};
const OTHER: Required<RecipientKeys> = {
  x25519: DHKEM_X25519.deriveKeyPair(utf8('some other worker x25519')),
  xwing: XWING.deriveKeyPair(utf8('some other worker xwing')),
};
const SUITES: Array<[KemName, AeadName]> = [
  ['X25519', 'AES-128-GCM'],
  ['X25519', 'ChaCha20-Poly1305'],
  ['X-Wing', 'AES-128-GCM'],
  ['X-Wing', 'ChaCha20-Poly1305'],
];
const AAD = utf8('{"model":"demo-1","workerId":"worker-0001"}');
const BODY = utf8('{"model":"demo-1","messages":[{"role":"user","content":"canary-91c2"}]}');
const CHUNKS = ['data: a\n\n', 'data: bb\n\n', 'data: ccc\n\n', 'data: [DONE]\n\n'].map(utf8);
const dec = new TextDecoder();

function pub(kem: KemName, keys = KEYS): Uint8Array {
  return kem === 'X25519' ? keys.x25519.publicKey : keys.xwing.publicKey;
}

async function code(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof SealError) return e.code;
    throw e;
  }
  return 'NO_ERROR';
}

/** Seal a request and a full response; returns the pieces plus each chunk's frame. */
async function exchange(kem: KemName, aead: AeadName, chunks = CHUNKS) {
  const { message, opener } = await sealRequest({ recipient: { kem, publicKey: pub(kem) }, aead, body: BODY, aad: AAD });
  const opened = await openRequest({ keys: KEYS, message, aad: AAD });
  const frames = chunks.map((c, i) => opened.sealer.seal(c, { final: i === chunks.length - 1 }));
  return { message, opener, opened, frames, response: concat(...frames) };
}

/**
 * A request sealed with fixed ephemeral randomness, so that `newOpener()` can
 * recreate the client's context as often as a test needs a fresh opener.
 */
async function fixedExchange(kem: KemName, aead: AeadName, seed: number) {
  const ikmE = new Uint8Array(kem === 'X25519' ? 32 : 64).fill(seed);
  const opts = { recipient: { kem, publicKey: pub(kem) }, aead, body: BODY, aad: AAD };
  const { message } = await sealRequestDeterministic(opts, ikmE);
  const opened = await openRequest({ keys: KEYS, message, aad: AAD });
  const frames = CHUNKS.map((c, i) => opened.sealer.seal(c, { final: i === CHUNKS.length - 1 }));
  return {
    message,
    frames,
    response: concat(...frames),
    newOpener: async () => (await sealRequestDeterministic(opts, ikmE)).opener,
  };
}

/** Response nonce length is the prefix of the first frame. */
function nonceLen(aead: AeadName): number {
  return aead === 'AES-128-GCM' ? 16 : 32;
}

function openAllCode(opener: ResponseOpener, bytes: Uint8Array): Promise<string> {
  return code(() => {
    opener.push(bytes);
    opener.end();
  });
}

describe('committed protocol test vectors (sdk/protocol/vectors.json)', () => {
  it('are reproduced byte for byte by the deterministic builder', async () => {
    expect(await buildVectors()).toEqual(committed);
  });

  for (const v of committed.vectors) {
    it(`${v.name}: the committed message opens and the committed response opens to the chunks`, async () => {
      const kp = { secretKey: hexToBytes(v.skR), publicKey: hexToBytes(v.pkR) };
      const keys = v.kem === 'X25519' ? { x25519: kp } : { xwing: kp };
      const opened = await openRequestDeterministic(
        { keys, message: hexToBytes(v.message), aad: hexToBytes(v.aad) },
        hexToBytes(v.responseNonce),
      );
      expect(bytesToHex(opened.body)).toBe(v.body);
      expect(bytesToHex(opened.replayId)).toBe(v.replayId);
      // the client side, re-derived from the same ikmE, opens the committed response
      const { message, opener } = await sealRequestDeterministic(
        {
          recipient: { kem: v.kem as KemName, publicKey: kp.publicKey },
          aead: v.aead as AeadName,
          body: hexToBytes(v.body),
          aad: hexToBytes(v.aad),
        },
        hexToBytes(v.ikmE),
      );
      expect(bytesToHex(message)).toBe(v.message);
      const pts = opener.push(hexToBytes(v.response));
      opener.end();
      expect(pts.map(bytesToHex)).toEqual(v.chunks.map((c) => c.pt));
    });
  }
});

describe('committed session vectors (sdk/protocol/vectors.json, sessions)', () => {
  for (const v of committed.sessions) {
    it(`${v.name}: the committed open is accepted and its requests open`, async () => {
      const kp = { secretKey: hexToBytes(v.skR), publicKey: hexToBytes(v.pkR) };
      const r = new SessionReceiver({ keys: v.kem === 'X25519' ? { x25519: kp } : { xwing: kp }, replayGuard: new ReplayGuard({ ttlMs: 60_000 }) });
      expect(await r.accept(hexToBytes(v.open), hexToBytes(v.openAad))).toBe(v.sessionId);
      for (const q of v.requests) expect(bytesToHex(r.open(hexToBytes(q.message), hexToBytes(v.aad)).body)).toBe(q.body);
    });
  }
});

describe.each(SUITES)('round trip %s + %s', (kem, aead) => {
  it('request body, aad binding, replay id and chunked response', async () => {
    const { opener, opened, response } = await exchange(kem, aead);
    expect(dec.decode(opened.body)).toBe(dec.decode(BODY));
    expect(opened.kem).toBe(kem);
    expect(opened.aead).toBe(aead);
    expect(opened.replayId.length).toBe(32);
    // byte-at-a-time delivery yields the same chunks
    const got: string[] = [];
    for (let i = 0; i < response.length; i++) for (const pt of opener.push(response.subarray(i, i + 1))) got.push(dec.decode(pt));
    opener.end();
    expect(opener.done).toBe(true);
    expect(got).toEqual(CHUNKS.map((c) => dec.decode(c)));
  });

  it('empty body, empty chunks and a large chunk', async () => {
    const { message, opener } = await sealRequest({ recipient: { kem, publicKey: pub(kem) }, aead, body: new Uint8Array(0), aad: new Uint8Array(0) });
    const opened = await openRequest({ keys: KEYS, message, aad: new Uint8Array(0) });
    expect(opened.body.length).toBe(0);
    const big = new Uint8Array(200_000).map((_, i) => i & 0xff);
    const out = concat(
      opened.sealer.seal(new Uint8Array(0), { final: false }),
      opened.sealer.seal(big, { final: false }),
      opened.sealer.seal(new Uint8Array(0), { final: true }),
    );
    expect(bytesToHex(opener.openAll(out))).toBe(bytesToHex(big));
  });

  it('every single-byte flip of the sealed request is rejected with a typed error', async () => {
    const { message } = await exchange(kem, aead);
    const codes = new Set<string>();
    for (let i = 0; i < message.length; i++) {
      const m = message.slice();
      m[i]! ^= 0x01 << (i % 8);
      const c = await code(() => openRequest({ keys: KEYS, message: m, aad: AAD }));
      expect(c, `flip at byte ${i}`).not.toBe('NO_ERROR');
      codes.add(c);
    }
    expect(codes.has('OPEN_FAILED')).toBe(true);
    expect(codes.has('UNSUPPORTED_SUITE')).toBe(true);
  });

  it('every single-byte flip of the sealed response stream is rejected with a typed error', async () => {
    const fx = await fixedExchange(kem, aead, 3);
    const codes = new Set<string>();
    for (let i = 0; i < fx.response.length; i++) {
      const r = fx.response.slice();
      r[i]! ^= 0x80 >> (i % 8);
      const c = await openAllCode((await fx.newOpener()), r);
      expect(c, `flip at byte ${i}`).not.toBe('NO_ERROR');
      codes.add(c);
    }
    expect(await openAllCode((await fx.newOpener()), fx.response)).toBe('NO_ERROR');
    expect(codes.has('OPEN_FAILED')).toBe(true);
  });

  it('truncation: dropping the final chunk and every cut point are TRUNCATED', async () => {
    const { opener, frames } = await exchange(kem, aead);
    expect(await openAllCode(opener, concat(...frames.slice(0, -1)))).toBe('TRUNCATED');
    const fx = await fixedExchange(kem, aead, 9);
    for (let cut = 0; cut < fx.response.length; cut++) {
      expect(await openAllCode((await fx.newOpener()), fx.response.subarray(0, cut)), `cut at ${cut}`).toBe('TRUNCATED');
    }
    expect(await openAllCode((await fx.newOpener()), fx.response)).toBe('NO_ERROR');
  });

  it('reordering two chunks is REORDERED; duplicating a chunk is DUPLICATE', async () => {
    const a = await exchange(kem, aead);
    const nl = nonceLen(aead);
    const f0 = a.frames[0]!;
    const first = f0.subarray(nl); // frame 0 without the response nonce
    const nonce = f0.subarray(0, nl);
    // swap chunks 1 and 2
    expect(await openAllCode(a.opener, concat(nonce, first, a.frames[2]!, a.frames[1]!, a.frames[3]!))).toBe('REORDERED');
    // skip a chunk entirely
    const b = await exchange(kem, aead);
    expect(await openAllCode(b.opener, concat(b.frames[0]!, b.frames[2]!, b.frames[3]!))).toBe('REORDERED');
    // duplicate chunk 1
    const c = await exchange(kem, aead);
    expect(await openAllCode(c.opener, concat(c.frames[0]!, c.frames[1]!, c.frames[1]!, c.frames[2]!, c.frames[3]!))).toBe(
      'DUPLICATE',
    );
    // reorder with the sequence numbers rewritten to look in order: the nonce still binds position
    const d = await exchange(kem, aead);
    const f1 = d.frames[1]!.slice();
    const f2 = d.frames[2]!.slice();
    f1[1] = 2; // seq varint (1 byte) of chunk 1 -> 2
    f2[1] = 1;
    expect(await openAllCode(d.opener, concat(d.frames[0]!, f2, f1, d.frames[3]!))).toBe('OPEN_FAILED');
    // turning a non-final chunk into the final one (flag flip) fails authentication
    const e = await exchange(kem, aead);
    const g1 = e.frames[1]!.slice();
    g1[0] = 0x01;
    expect(await openAllCode(e.opener, concat(e.frames[0]!, g1))).toBe('OPEN_FAILED');
  });

  it('data after the final chunk is MALFORMED_MESSAGE', async () => {
    const a = await exchange(kem, aead);
    expect(await openAllCode(a.opener, concat(a.response, new Uint8Array([0])))).toBe('MALFORMED_MESSAGE');
    const b = await exchange(kem, aead);
    b.opener.push(b.response);
    expect(await code(() => b.opener.push(new Uint8Array([1, 2, 3])))).toBe('MALFORMED_MESSAGE');
  });

  it("a whole response replayed under another request's context is OPEN_FAILED", async () => {
    const a = await exchange(kem, aead);
    const b = await exchange(kem, aead);
    expect(await openAllCode(b.opener, a.response)).toBe('OPEN_FAILED');
    // and splicing one chunk of another response into the right position
    const c = await exchange(kem, aead);
    const d = await exchange(kem, aead);
    expect(await openAllCode(d.opener, concat(d.frames[0]!, c.frames[1]!, d.frames[2]!, d.frames[3]!))).toBe('OPEN_FAILED');
  });

  it('swapped aad (other model or worker id) is OPEN_FAILED', async () => {
    const { message } = await exchange(kem, aead);
    for (const aad of [
      utf8('{"model":"demo-2","workerId":"worker-0001"}'),
      utf8('{"model":"demo-1","workerId":"worker-0002"}'),
      new Uint8Array(0),
    ]) {
      expect(await code(() => openRequest({ keys: KEYS, message, aad }))).toBe('OPEN_FAILED');
    }
  });

  it('wrong recipient key is OPEN_FAILED; a missing key is KEY_MISMATCH', async () => {
    const { message } = await exchange(kem, aead);
    expect(await code(() => openRequest({ keys: OTHER, message, aad: AAD }))).toBe('OPEN_FAILED');
    const only = kem === 'X25519' ? { xwing: KEYS.xwing } : { x25519: KEYS.x25519 };
    expect(await code(() => openRequest({ keys: only, message, aad: AAD }))).toBe('KEY_MISMATCH');
  });

  it('a replayed request is REPLAY through the ReplayGuard', async () => {
    const { message } = await exchange(kem, aead);
    const guard = new ReplayGuard({ ttlMs: 60_000 });
    await openRequest({ keys: KEYS, message, aad: AAD, replayGuard: guard });
    expect(await code(() => openRequest({ keys: KEYS, message, aad: AAD, replayGuard: guard }))).toBe('REPLAY');
    // a tampered copy never authenticates, so it neither passes nor poisons the guard
    const fresh = (await exchange(kem, aead)).message;
    const bad = fresh.slice();
    bad[bad.length - 1]! ^= 1;
    expect(await code(() => openRequest({ keys: KEYS, message: bad, aad: AAD, replayGuard: guard }))).toBe('OPEN_FAILED');
    expect(await code(() => openRequest({ keys: KEYS, message: fresh, aad: AAD, replayGuard: guard }))).toBe('NO_ERROR');
  });

  it('Web streams: sealResponseStream -> openResponseStream; a source error surfaces as TRUNCATED', async () => {
    const a = await exchange(kem, aead, []);
    const src = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of CHUNKS) c.enqueue(ch);
        c.close();
      },
    });
    // re-chunk the sealed bytes arbitrarily in between
    const rechunk = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        for (let i = 0; i < chunk.length; i += 7) c.enqueue(chunk.slice(i, i + 7));
      },
    });
    const out = openResponseStream(a.opener, src.pipeThrough(sealResponseStream(a.opened.sealer)).pipeThrough(rechunk));
    const got: string[] = [];
    for await (const pt of out as unknown as AsyncIterable<Uint8Array>) got.push(dec.decode(pt));
    expect(got.join('')).toBe(CHUNKS.map((c) => dec.decode(c)).join(''));

    const b = await exchange(kem, aead, []);
    let n = 0;
    const dying = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ < 2) c.enqueue(utf8(`data: ${n}\n\n`));
        else c.error(new Error('backend died'));
      },
    });
    const sealed = dying.pipeThrough(b.opened.sealer.sealResponseStream());
    // the transport delivers what was sent, then ends (the worker's connection closes)
    const bytes: Uint8Array[] = [];
    try {
      for await (const x of sealed as unknown as AsyncIterable<Uint8Array>) bytes.push(x);
    } catch {
      /* worker side sees its own backend error */
    }
    const transport = new ReadableStream<Uint8Array>({
      start(c) {
        for (const x of bytes) c.enqueue(x);
        c.close();
      },
    });
    const reader = b.opener.openResponseStream(transport).getReader();
    const seen: string[] = [];
    let err: unknown;
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        seen.push(dec.decode(r.value));
      }
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual(['data: 1\n\n', 'data: 2\n\n']);
    expect(err).toBeInstanceOf(SealError);
    expect((err as SealError).code).toBe('TRUNCATED');
  });
});

describe('request header and suite handling', () => {
  it('unknown version, KEM, KDF or AEAD is UNSUPPORTED_SUITE; short input is MALFORMED_MESSAGE', async () => {
    const { message } = await exchange('X25519', 'ChaCha20-Poly1305');
    const with_ = (i: number, v: number) => {
      const m = message.slice();
      m[i] = v;
      return m;
    };
    expect(await code(() => openRequest({ keys: KEYS, message: with_(0, 2), aad: AAD }))).toBe('UNSUPPORTED_SUITE');
    expect(await code(() => openRequest({ keys: KEYS, message: with_(2, 0x10), aad: AAD }))).toBe('UNSUPPORTED_SUITE');
    expect(await code(() => openRequest({ keys: KEYS, message: with_(4, 0x02), aad: AAD }))).toBe('UNSUPPORTED_SUITE');
    expect(await code(() => openRequest({ keys: KEYS, message: with_(6, 0x02), aad: AAD }))).toBe('UNSUPPORTED_SUITE');
    expect(await code(() => openRequest({ keys: KEYS, message: message.subarray(0, 5), aad: AAD }))).toBe('MALFORMED_MESSAGE');
    expect(await code(() => openRequest({ keys: KEYS, message: message.subarray(0, 7 + 32 + 15), aad: AAD }))).toBe(
      'MALFORMED_MESSAGE',
    );
    // AES-GCM header on a ChaCha ciphertext: the header is bound through HPKE info
    expect(await code(() => openRequest({ keys: KEYS, message: with_(6, 0x01), aad: AAD }))).toBe('OPEN_FAILED');
  });

  it('sealRequest rejects a wrong-size key with KEY_MISMATCH and an unknown KEM with UNSUPPORTED_SUITE', async () => {
    expect(await code(() => sealRequest({ recipient: { kem: 'X-Wing', publicKey: KEYS.x25519.publicKey }, body: BODY, aad: AAD }))).toBe(
      'KEY_MISMATCH',
    );
    expect(
      await code(() => sealRequest({ recipient: { kem: 'P-256' as KemName, publicKey: KEYS.x25519.publicKey }, body: BODY, aad: AAD })),
    ).toBe('UNSUPPORTED_SUITE');
  });

  it('default AEAD is ChaCha20-Poly1305', async () => {
    const { message } = await sealRequest({ recipient: { kem: 'X25519', publicKey: pub('X25519') }, body: BODY, aad: AAD });
    expect((await openRequest({ keys: KEYS, message, aad: AAD })).aead).toBe('ChaCha20-Poly1305');
  });

  it('suite negotiation prefers X-Wing, falls back to X25519, and honours the client allow-list', async () => {
    const keys = generateRecipientKeys();
    const both = bindingKeysFor(keys);
    expect(both.map((b) => b.alg)).toEqual(['X-Wing', 'X25519']);
    const r = selectRecipient([...both].reverse());
    expect(r.kem).toBe('X-Wing');
    expect(bytesToHex(r.publicKey)).toBe(bytesToHex(keys.xwing.publicKey));
    expect(selectRecipient(bindingKeysFor({ x25519: keys.x25519 })).kem).toBe('X25519');
    expect(selectRecipient(both, { allow: ['X25519'] }).kem).toBe('X25519');
    expect(await code(() => selectRecipient([{ use: 'receipt', alg: 'Ed25519', key: 'AAAA' }]))).toBe('UNSUPPORTED_SUITE');
    expect(await code(() => selectRecipient([{ use: 'hpke', alg: 'X25519', key: 'AAAA' }]))).toBe('KEY_MISMATCH');
    // and the chosen key works end to end
    const { message } = await sealRequest({ recipient: r, body: BODY, aad: AAD });
    expect(dec.decode((await openRequest({ keys, message, aad: AAD })).body)).toBe(dec.decode(BODY));
  });

  it('warmRecipientKeys does the per-key work up front; requests still open', async () => {
    const keys = generateRecipientKeys();
    await warmRecipientKeys(keys);
    await warmRecipientKeys(keys); // idempotent
    for (const kem of ['X-Wing', 'X25519'] as const) {
      const { message } = await sealRequest({ recipient: { kem, publicKey: kem === 'X25519' ? keys.x25519.publicKey : keys.xwing.publicKey }, body: BODY, aad: AAD });
      expect(dec.decode((await openRequest({ keys, message, aad: AAD })).body)).toBe(dec.decode(BODY));
    }
  });

  it('the sealer refuses to seal after the final chunk', async () => {
    const { opened } = await exchange('X25519', 'AES-128-GCM');
    expect(await code(() => opened.sealer.seal(utf8('more'), { final: false }))).toBe('STATE_ERROR');
  });
});

describe('ReplayGuard', () => {
  it('expires ids after ttl and bounds memory', async () => {
    let now = 1_000;
    const g = new ReplayGuard({ ttlMs: 100, maxEntries: 3, now: () => now });
    const id = (n: number) => new Uint8Array(32).fill(n);
    g.checkAndRemember(id(1));
    expect(await code(() => g.checkAndRemember(id(1)))).toBe('REPLAY');
    g.checkAndRemember(id(2));
    g.checkAndRemember(id(3));
    expect(await code(() => g.checkAndRemember(id(4)))).toBe('REPLAY_GUARD_FULL');
    expect(g.size).toBe(3);
    now += 100;
    expect(g.size).toBe(0);
    expect(g.has(id(1))).toBe(false);
    g.checkAndRemember(id(4));
    // a clock going backwards never resurrects expired ids nor shortens ttl
    now -= 50;
    expect(await code(() => g.checkAndRemember(id(4)))).toBe('REPLAY');
  });
});

describe('portability', () => {
  it('runtime sources use no node: imports and no Buffer (browsers, Workers)', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const here = new URL('.', import.meta.url).pathname;
    const files = [
      ...readdirSync(here).map((f) => join(here, f)),
      ...readdirSync(join(here, '../hpke')).map((f) => join(here, '../hpke', f)),
    ].filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('bench.ts') && !f.endsWith('gen-vectors.ts'));
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) {
      const src = readFileSync(f, 'utf8');
      expect(src, f).not.toMatch(/from ['"]node:/);
      expect(src, f).not.toMatch(/\bBuffer\s*[.(]/);
    }
  });
});
