import { describe, expect, it } from 'vitest';
import { HEADER_LENGTH, ReplayGuard, SealError, generateRecipientKeys, openRequest, sealRequest, type KemName } from './index.ts';
import { PreparedSender, prepareSender } from './request.ts';
import { SenderPool } from './sender-pool.ts';

const keys = generateRecipientKeys();
const aad = new TextEncoder().encode('{"model":"m"}');
const body = new TextEncoder().encode('{"model":"m","messages":[]}');
const recipientFor = (kem: KemName) => ({ kem, publicKey: kem === 'X25519' ? keys.x25519.publicKey : keys.xwing.publicKey });

/** A pool whose refills run only when the test says so. */
function manualPool(opts: { size?: number; maxRecipients?: number; maxAgeMs?: number; now?: () => number } = {}) {
  const queue: Array<() => void> = [];
  const pool = new SenderPool({ ...opts, schedule: (run) => queue.push(run) });
  const settle = async () => {
    while (queue.length) {
      queue.shift()!();
      await pool.idle();
    }
  };
  return { pool, queue, settle };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof SealError ? e.code : `not a SealError: ${String(e)}`;
  }
  return 'no error';
}

const encOf = (message: Uint8Array, kem: KemName) => message.subarray(HEADER_LENGTH, HEADER_LENGTH + (kem === 'X25519' ? 32 : 1120));

describe.each(['X25519', 'X-Wing'] as const)('prepared senders (%s)', (kem) => {
  it('a prepared sender seals one request that the worker opens, and is spent afterwards', async () => {
    const prepared = await prepareSender(recipientFor(kem));
    expect(prepared.spent).toBe(false);
    const { message, opener } = await sealRequest({ recipient: recipientFor(kem), body, aad, prepared });
    expect(prepared.spent).toBe(true);
    const opened = await openRequest({ keys, message, aad, replayGuard: new ReplayGuard({ ttlMs: 60_000 }) });
    expect(opened.body).toEqual(body);
    const frame = opened.sealer.seal(new TextEncoder().encode('hi'), { final: true });
    expect(new TextDecoder().decode(opener.openAll(frame))).toBe('hi');
  });

  it('is never used twice: a second seal with the same prepared sender is STATE_ERROR', async () => {
    const prepared = await prepareSender(recipientFor(kem));
    await sealRequest({ recipient: recipientFor(kem), body, aad, prepared });
    expect(await codeOf(sealRequest({ recipient: recipientFor(kem), body, aad, prepared }))).toBe('STATE_ERROR');
  });

  it('refuses a prepared sender made for another key or AEAD, without spending it', async () => {
    const prepared = await prepareSender(recipientFor(kem));
    const other = generateRecipientKeys();
    const otherRecipient = { kem, publicKey: kem === 'X25519' ? other.x25519.publicKey : other.xwing.publicKey };
    expect(await codeOf(sealRequest({ recipient: otherRecipient, body, aad, prepared }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(sealRequest({ recipient: recipientFor(kem), aead: 'AES-128-GCM', body, aad, prepared }))).toBe('INVALID_ARGUMENT');
    expect(prepared.spent).toBe(false);
  });

  it('the pool hands out each prepared sender once, with distinct encapsulations, and refills when warmed after a take', async () => {
    const { pool, settle } = manualPool({ size: 2 });
    const r = recipientFor(kem);
    expect(pool.take(r)).toBeNull(); // cold: seal inline; a refill is scheduled
    await settle();
    expect(pool.readyCount(r)).toBe(2);
    // A take that leaves one ready schedules nothing (the caller warms when it has time); one that empties the pool refills.
    pool.take(r);
    await settle();
    expect(pool.readyCount(r)).toBe(1);
    pool.take(r);
    await settle();
    expect(pool.readyCount(r)).toBe(2);
    const seen = new Set<string>();
    const handed = new Set<PreparedSender>();
    for (let i = 0; i < 6; i++) {
      const p = pool.take(r);
      expect(p).not.toBeNull();
      expect(handed.has(p!)).toBe(false);
      handed.add(p!);
      const { message } = await sealRequest({ recipient: r, body, aad, prepared: p! });
      const enc = Buffer.from(encOf(message, kem)).toString('hex');
      expect(seen.has(enc)).toBe(false);
      seen.add(enc);
      pool.warm(r);
      await settle();
      expect(pool.readyCount(r)).toBe(2);
    }
    expect(pool.prepared).toBe(10);
  });

  it('does not hand out expired prepared senders', async () => {
    let t = 1_000_000;
    const { pool, settle } = manualPool({ size: 1, maxAgeMs: 1_000, now: () => t });
    const r = recipientFor(kem);
    pool.warm(r);
    await settle();
    expect(pool.readyCount(r)).toBe(1);
    t = Date.now() + 5_000; // the prepared sender was made at Date.now(): now it is too old
    expect(pool.take(r)).toBeNull();
  });
});

describe('sender pool', () => {
  it('a failing refill (a key the KEM rejects) leaves the pool empty, does not retry on its own, and the inline seal reports the typed error', async () => {
    const { pool, queue, settle } = manualPool();
    const bad = { kem: 'X25519' as const, publicKey: new Uint8Array(32) }; // all-zero point: all-zero shared secret
    expect(pool.take(bad)).toBeNull();
    await settle();
    expect(pool.readyCount(bad)).toBe(0);
    expect(queue.length).toBe(0);
    expect(await codeOf(sealRequest({ recipient: bad, body, aad }))).toBe('KEM_FAILED');
    const badXWing = { kem: 'X-Wing' as const, publicKey: new Uint8Array(1216).fill(0xff) }; // ML-KEM modulus check fails
    expect(pool.take(badXWing)).toBeNull();
    await settle();
    expect(pool.readyCount(badXWing)).toBe(0);
  });

  it('drops (and discards) the least recently used recipient beyond maxRecipients', async () => {
    const { pool, settle } = manualPool({ size: 1, maxRecipients: 1 });
    const a = recipientFor('X25519');
    pool.warm(a);
    await settle();
    const kept = pool.take(a);
    expect(kept).not.toBeNull();
    await settle();
    expect(pool.readyCount(a)).toBe(1);
    const b = { kem: 'X25519' as const, publicKey: generateRecipientKeys().x25519.publicKey };
    pool.warm(b);
    expect(pool.readyCount(a)).toBe(0);
    expect(kept!.spent).toBe(false); // handed out before: still the caller's to use once
    pool.clear();
    expect(pool.readyCount(b)).toBe(0);
  });

  it('a sealed request made from the pool is still rejected when replayed', async () => {
    const { pool, settle } = manualPool({ size: 1 });
    const r = recipientFor('X25519');
    pool.warm(r);
    await settle();
    const { message } = await sealRequest({ recipient: r, body, aad, prepared: pool.take(r)! });
    const replayGuard = new ReplayGuard({ ttlMs: 60_000 });
    await openRequest({ keys, message, aad, replayGuard });
    expect(await codeOf(openRequest({ keys, message, aad, replayGuard }))).toBe('REPLAY');
  });
});
