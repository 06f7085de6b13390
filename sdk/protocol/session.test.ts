import { describe, expect, it } from 'vitest';
import { isSealError, type SealErrorCode } from '../hpke/errors.ts';
import { utf8 } from '../hpke/hpke.ts';
import { ReplayGuard } from './replay.ts';
import { ReplayWindow, SessionReceiver, SessionSender } from './session.ts';
import { generateRecipientKeys } from './suites.ts';
import type { KemName } from '../hpke/hpke.ts';

const keys = generateRecipientKeys();
const recipientOf = (kem: KemName) => ({ kem, publicKey: kem === 'X25519' ? keys.x25519.publicKey : keys.xwing.publicKey });
const OPEN_AAD = utf8('{"worker":"wk_000000000000000000000001"}');
const AAD = utf8('{"endpoint":"chat.completions","model":"m","worker":"wk_000000000000000000000001"}');
const BODY = utf8('{"model":"m","messages":[{"role":"user","content":"session canary"}]}');

function codeOf(f: () => unknown): SealErrorCode | 'none' {
  try {
    f();
    return 'none';
  } catch (e) {
    if (isSealError(e)) return e.code;
    throw e;
  }
}

async function asyncCodeOf(f: () => Promise<unknown>): Promise<SealErrorCode | 'none'> {
  try {
    await f();
    return 'none';
  } catch (e) {
    if (isSealError(e)) return e.code;
    throw e;
  }
}

function receiver(opts: Partial<ConstructorParameters<typeof SessionReceiver>[0]> = {}) {
  return new SessionReceiver({ keys, replayGuard: new ReplayGuard({ ttlMs: 3_600_000 }), ...opts });
}

async function opened(kem: KemName = 'X25519', r = receiver()) {
  const { session, message } = await SessionSender.open(recipientOf(kem), OPEN_AAD);
  const id = await r.accept(message, OPEN_AAD);
  return { session, r, id, openMessage: message };
}

describe('sessions', () => {
  for (const kem of ['X25519', 'X-Wing'] as const) {
    for (const aead of ['ChaCha20-Poly1305', 'AES-128-GCM'] as const) {
      it(`round-trips requests and streamed responses (${kem}, ${aead})`, async () => {
        const r = receiver();
        const { session, message } = await SessionSender.open(recipientOf(kem), OPEN_AAD, { aead });
        expect(await r.accept(message, OPEN_AAD)).toBe(session.id);
        for (let i = 0; i < 3; i++) {
          const body = utf8(`request ${i}`);
          const sealed = session.seal(body, AAD);
          const got = r.open(sealed.message, AAD);
          expect(new TextDecoder().decode(got.body)).toBe(`request ${i}`);
          expect(got.kem).toBe(kem);
          expect(got.aead).toBe(aead);
          const frames = [got.sealer.seal(utf8('data: one\n\n'), { final: false }), got.sealer.seal(utf8('tail'), { final: true })];
          const out: string[] = [];
          for (const f of frames) for (const m of sealed.opener.push(f)) out.push(new TextDecoder().decode(m));
          expect(out).toEqual(['data: one\n\n', 'tail']);
          expect(sealed.opener.done).toBe(true);
        }
        expect(session.sealed).toBe(3);
      });
    }
  }

  it('refuses a replayed request, accepts late ones inside the window, refuses ones below it', async () => {
    const { session, r } = await opened('X25519', receiver({ window: 64 }));
    const msgs = Array.from({ length: 200 }, () => session.seal(BODY, AAD).message);
    r.open(msgs[5]!, AAD);
    expect(codeOf(() => r.open(msgs[5]!, AAD))).toBe('REPLAY');
    r.open(msgs[3]!, AAD); // out of order, not seen yet
    r.open(msgs[100]!, AAD);
    expect(codeOf(() => r.open(msgs[36]!, AAD))).toBe('REPLAY'); // 100 - 64 = 36: below the window
    r.open(msgs[37]!, AAD);
    expect(codeOf(() => r.open(msgs[37]!, AAD))).toBe('REPLAY');
    expect(codeOf(() => r.open(msgs[100]!, AAD))).toBe('REPLAY');
    r.open(msgs[199]!, AAD); // a jump past the whole window clears it
    expect(codeOf(() => r.open(msgs[199]!, AAD))).toBe('REPLAY');
    r.open(msgs[150]!, AAD);
  });

  it('does not burn a request number on a forgery', async () => {
    const { session, r } = await opened();
    const m = session.seal(BODY, AAD).message;
    const bad = m.slice();
    bad[bad.length - 1]! ^= 1;
    expect(codeOf(() => r.open(bad, AAD))).toBe('OPEN_FAILED');
    expect(new TextDecoder().decode(r.open(m, AAD).body)).toContain('session canary');
  });

  it('rejects every single-byte change of a request', async () => {
    const { session, r } = await opened();
    const m = session.seal(BODY, AAD).message;
    const seen = new Set<string>();
    for (let i = 0; i < m.length; i++) {
      const bad = m.slice();
      bad[i]! ^= 0x01;
      const code = codeOf(() => r.open(bad, AAD));
      expect(code, `byte ${i}`).not.toBe('none');
      seen.add(code);
    }
    expect([...seen].sort()).toEqual(['MALFORMED_MESSAGE', 'OPEN_FAILED', 'UNKNOWN_SESSION', 'UNSUPPORTED_SUITE']);
    // Truncations.
    for (const len of [0, 6, 7, 23, 31, 40, m.length - 1]) expect(codeOf(() => r.open(m.subarray(0, len), AAD)), `len ${len}`).not.toBe('none');
    expect(new TextDecoder().decode(r.open(m, AAD).body)).toContain('session canary');
  });

  it('binds the routing metadata: another aad does not open', async () => {
    const { session, r } = await opened();
    const m = session.seal(BODY, AAD).message;
    expect(codeOf(() => r.open(m, utf8('{"model":"other"}')))).toBe('OPEN_FAILED');
  });

  it('a response belongs to its request: another request of the session cannot open it', async () => {
    const { session, r } = await opened();
    const a = session.seal(BODY, AAD);
    const b = session.seal(BODY, AAD);
    const oa = r.open(a.message, AAD);
    r.open(b.message, AAD);
    const frame = oa.sealer.seal(utf8('for a'), { final: true });
    expect(() => [...b.opener.push(frame)]).toThrow(/OPEN_FAILED/);
  });

  it('a request under one session cannot be moved to another (swapped session id)', async () => {
    const r = receiver();
    const one = await opened('X25519', r);
    const two = await opened('X25519', r);
    const m = one.session.seal(BODY, AAD).message;
    const moved = m.slice();
    moved.set(Uint8Array.from(two.id.match(/../g)!.map((h) => parseInt(h, 16))), 7);
    expect(codeOf(() => r.open(moved, AAD))).toBe('OPEN_FAILED');
  });

  it('refuses a replayed session open even after the session is gone, so old request numbers stay spent', async () => {
    const r = receiver({ maxSessions: 1 });
    const one = await opened('X25519', r);
    const m = one.session.seal(BODY, AAD).message;
    r.open(m, AAD);
    await opened('X25519', r); // evicts the first
    expect(codeOf(() => r.open(m, AAD))).toBe('UNKNOWN_SESSION');
    expect(await asyncCodeOf(() => r.accept(one.openMessage, OPEN_AAD))).toBe('REPLAY');
    expect(codeOf(() => r.open(m, AAD))).toBe('UNKNOWN_SESSION');
  });

  it('checks the open: other aad, tampered bytes, wrong length, missing key', async () => {
    const { message } = await SessionSender.open(recipientOf('X-Wing'), OPEN_AAD);
    const r = receiver();
    expect(await asyncCodeOf(() => r.accept(message, utf8('{"worker":"wk_other"}')))).toBe('OPEN_FAILED');
    for (const i of [7, 500, 1126, message.length - 1]) {
      const bad = message.slice();
      bad[i]! ^= 0x80;
      expect(await asyncCodeOf(() => r.accept(bad, OPEN_AAD)), `byte ${i}`).not.toBe('none');
    }
    expect(await asyncCodeOf(() => r.accept(message.subarray(0, message.length - 1), OPEN_AAD))).toBe('MALFORMED_MESSAGE');
    expect(await asyncCodeOf(() => new SessionReceiver({ keys: { x25519: keys.x25519 }, replayGuard: new ReplayGuard({ ttlMs: 1000 }) }).accept(message, OPEN_AAD))).toBe('KEY_MISMATCH');
    expect(await r.accept(message, OPEN_AAD)).toMatch(/^[0-9a-f]{32}$/);
    expect(r.size).toBe(1);
  });

  it('expires sessions', async () => {
    let t = 1_000_000;
    const r = receiver({ maxAgeMs: 1000, now: () => t });
    const { session } = await opened('X25519', r);
    const m = session.seal(BODY, AAD).message;
    t += 1000;
    expect(codeOf(() => r.open(m, AAD))).toBe('UNKNOWN_SESSION');
    expect(r.size).toBe(0);
  });

  it('a session open cannot be opened as a one-shot request and vice versa (distinct info)', async () => {
    const { openRequest, sealRequest } = await import('./request.ts');
    const { message } = await SessionSender.open(recipientOf('X25519'), OPEN_AAD);
    expect(await asyncCodeOf(() => openRequest({ keys, message, aad: OPEN_AAD }))).toBe('OPEN_FAILED');
    const one = await sealRequest({ recipient: recipientOf('X25519'), body: new Uint8Array(0), aad: OPEN_AAD });
    expect(await asyncCodeOf(() => receiver().accept(one.message, OPEN_AAD))).toBe('OPEN_FAILED');
  });
});

describe('ReplayWindow', () => {
  it('matches a set-based model on random arrival orders', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 20; round++) {
      const w = new ReplayWindow(64);
      const seen = new Set<number>();
      let top = -1;
      for (let k = 0; k < 2000; k++) {
        const n = Math.max(0, top + rand(80) - 60);
        const expected = !seen.has(n) && n > top - 64;
        expect(w.fresh(n), `n=${n} top=${top}`).toBe(expected);
        if (expected) {
          w.remember(n);
          seen.add(n);
          top = Math.max(top, n);
        }
      }
    }
  });
});
