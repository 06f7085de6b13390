/**
 * Sealed sessions: one HPKE encapsulation to a worker's key, then many sealed
 * requests under it with no KEM work per request (docs/PROTOCOL.md §13).
 * The gateway uses them to seal the plain path's gateway → worker hop, so the
 * GPU host never sees a plain-mode prompt, at the cost of an HKDF-Expand and
 * the AEAD per request instead of a decapsulation.
 *
 *   open     = header || enc || Seal(ctx, aad, "")        info = "sealgate/v1 session" || 0x00 || header
 *   id       = SHA-256(enc)[0:16]
 *   request  = header || id || I2OSP(n, 8) || ct          n = 0, 1, 2, ... (unique per session)
 *   keys(n)  = ctx.Export("sealgate/v1 session request" || 0x00 || I2OSP(n, 8), Nk + Nn + Nh)
 *   ct       = AEAD.Seal(key, base_nonce, aad, body)      a one-message HPKE context (key, base_nonce, exporter)
 *   response = as for any sealed request (§6, §7), with enc := id || I2OSP(n, 8)
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SealError } from '../hpke/errors.ts';
import {
  HKDF_SHA256,
  KDF_HKDF_SHA256,
  RecipientContext,
  SenderContext,
  aeadById,
  aeadByName,
  concat,
  i2osp,
  kemById,
  kemByName,
  setupBaseR,
  setupBaseS,
  suite,
  utf8,
  type AeadName,
  type Context,
  type KemName,
  type SetupOptions,
  type Suite,
} from '../hpke/hpke.ts';
import { ResponseOpener, ResponseSealer } from './response.ts';
import type { ReplayGuard } from './replay.ts';
import type { OpenedRequest, Recipient, RecipientKeys, SealedRequest } from './request.ts';
import { HEADER_LENGTH, PROTOCOL_VERSION, decodeHeader, encodeHeader } from './wire.ts';
import { DEFAULT_AEAD } from './request.ts';

export const SESSION_INFO_LABEL = 'sealgate/v1 session';
export const SESSION_REQUEST_LABEL = 'sealgate/v1 session request';
/** HTTP media types of a session open and of a request sealed under a session. */
export const SESSION_OPEN_TYPE = 'application/vnd.sealgate.session-open';
export const SESSION_REQUEST_TYPE = 'application/vnd.sealgate.session-request';
export const SESSION_ID_LENGTH = 16;
const COUNTER_LENGTH = 8;
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** HPKE info of a session open. */
export function sessionInfo(header: Uint8Array): Uint8Array {
  return concat(utf8(SESSION_INFO_LABEL), Uint8Array.of(0), header);
}

/** The per-request context: one message each way, keys from the session's exporter. */
export function requestContext<C extends Context>(
  session: Context,
  s: Suite,
  n: number,
  Ctor: new (s: Suite, k: Uint8Array, b: Uint8Array, e: Uint8Array) => C,
): C {
  const { Nk, Nn } = s.aead;
  const m = session.export(concat(utf8(SESSION_REQUEST_LABEL), Uint8Array.of(0), i2osp(n, COUNTER_LENGTH)), Nk + Nn + s.kdf.Nh);
  return new Ctor(s, m.subarray(0, Nk), m.subarray(Nk, Nk + Nn), m.subarray(Nk + Nn));
}

function requireBytes(name: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new SealError('INVALID_ARGUMENT', `${name} must be a Uint8Array`);
}

/**
 * The sending side of a session (the gateway, for one worker key). Sealing is
 * synchronous: all public-key work happened in `open`.
 *
 * @example
 * const { session, message } = await SessionSender.open(recipient, aad);
 * // POST message to the worker once (SESSION_OPEN_TYPE), then for each request:
 * const { message: m, opener } = session.seal(body, aad);
 */
export class SessionSender {
  readonly kem: KemName;
  readonly aead: AeadName;
  /** The session id, hex (32 digits). */
  readonly id: string;
  /** When it was opened (ms since the epoch). */
  readonly createdAt = Date.now();
  private readonly idBytes: Uint8Array;
  private readonly header: Uint8Array;
  private readonly suite: Suite;
  private readonly ctx: SenderContext;
  private next = 0;

  private constructor(kem: KemName, aead: AeadName, header: Uint8Array, s: Suite, ctx: SenderContext, enc: Uint8Array) {
    this.kem = kem;
    this.aead = aead;
    this.header = header;
    this.suite = s;
    this.ctx = ctx;
    this.idBytes = sha256(enc).subarray(0, SESSION_ID_LENGTH);
    this.id = bytesToHex(this.idBytes);
  }

  /**
   * Encapsulates to `recipient` (a key from verified evidence) and returns the
   * session and the open message for the worker. `aad` binds the open to its
   * context (the worker id); the worker must present the same bytes.
   */
  static open(recipient: Recipient, aad: Uint8Array, opts: { aead?: AeadName } = {}): Promise<{ session: SessionSender; message: Uint8Array }> {
    return SessionSender.openWith(recipient, aad, opts.aead, {});
  }

  /** @internal `rand.ikmE` fixes the encapsulation (test vectors only, see ./testing.ts). */
  static async openWith(recipient: Recipient, aad: Uint8Array, aeadName: AeadName | undefined, rand: SetupOptions): Promise<{ session: SessionSender; message: Uint8Array }> {
    if (!recipient || typeof recipient !== 'object') throw new SealError('INVALID_ARGUMENT', 'recipient required');
    requireBytes('recipient.publicKey', recipient.publicKey);
    requireBytes('aad', aad);
    const kem = kemByName(recipient.kem);
    const aead = aeadByName(aeadName ?? DEFAULT_AEAD);
    if (recipient.publicKey.length !== kem.Npk) throw new SealError('KEY_MISMATCH', `${kem.name} public key must be ${kem.Npk} bytes`);
    const header = encodeHeader({ version: PROTOCOL_VERSION, kemId: kem.id, kdfId: KDF_HKDF_SHA256, aeadId: aead.id });
    const s = suite(kem.id, KDF_HKDF_SHA256, aead.id);
    const { enc, ctx } = await setupBaseS(s, recipient.publicKey, sessionInfo(header), rand.ikmE ? { ikmE: rand.ikmE } : {});
    const confirm = ctx.seal(new Uint8Array(0), aad);
    return { session: new SessionSender(kem.name, aead.name, header, s, ctx, enc), message: concat(header, enc, confirm) };
  }

  /** Requests sealed so far (the next request's number). */
  get sealed(): number {
    return this.next;
  }

  /** Seals one request body; `aad` is its clear routing metadata, as for `sealRequest`. */
  seal(body: Uint8Array, aad: Uint8Array): SealedRequest {
    requireBytes('body', body);
    requireBytes('aad', aad);
    if (this.next >= MAX_COUNTER) throw new SealError('STATE_ERROR', 'session request numbers exhausted: open a new session');
    const n = this.next++;
    const counter = i2osp(n, COUNTER_LENGTH);
    const ctx = requestContext(this.ctx, this.suite, n, SenderContext);
    const message = concat(this.header, this.idBytes, counter, ctx.seal(body, aad));
    const opener = new ResponseOpener({ ctx, kdf: HKDF_SHA256, aead: this.suite.aead, enc: concat(this.idBytes, counter) });
    return { message, opener };
  }
}

interface ReceivedSession {
  suite: Suite;
  kem: KemName;
  header: Uint8Array;
  ctx: RecipientContext;
  expires: number;
  window: ReplayWindow;
}

export interface SessionReceiverOptions {
  keys: RecipientKeys;
  /**
   * Remembers accepted session opens (by SHA-256(enc)) for as long as the keys
   * can open them, so an evicted or expired session can never be re-opened
   * with its old request numbers fresh again. The worker's request guard.
   */
  replayGuard: ReplayGuard;
  /** Sessions kept at once; the least recently opened goes first (default 1024). */
  maxSessions?: number;
  /** A session's lifetime, ms (default 1 hour); the sender opens a new one before. */
  maxAgeMs?: number;
  /** How far behind the highest request number a late request may arrive (default 65,536). */
  window?: number;
  now?: () => number;
}

/**
 * The receiving side (the worker): accepts session opens and opens the
 * requests sealed under them.
 *
 * @example
 * const sessions = new SessionReceiver({ keys, replayGuard });
 * await sessions.accept(openMessage, aad);          // once per session
 * const { body, sealer } = sessions.open(message, aad); // per request, synchronous
 */
export class SessionReceiver {
  private readonly sessions = new Map<string, ReceivedSession>();
  private readonly keys: RecipientKeys;
  private readonly guard: ReplayGuard;
  private readonly maxSessions: number;
  private readonly maxAgeMs: number;
  private readonly windowSize: number;
  private readonly now: () => number;

  constructor(opts: SessionReceiverOptions) {
    this.keys = opts.keys;
    this.guard = opts.replayGuard;
    this.maxSessions = opts.maxSessions ?? 1024;
    this.maxAgeMs = opts.maxAgeMs ?? 3_600_000;
    this.windowSize = opts.window ?? 65_536;
    if (!(this.windowSize > 0 && this.windowSize % 32 === 0)) throw new SealError('INVALID_ARGUMENT', 'window must be a positive multiple of 32');
    this.now = opts.now ?? (() => Date.now());
  }

  /** Sessions currently held. */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Accepts a session open: decapsulates, checks it against `aad`, refuses an
   * open seen before (REPLAY). Resolves to the session id (hex).
   */
  async accept(message: Uint8Array, aad: Uint8Array): Promise<string> {
    requireBytes('message', message);
    requireBytes('aad', aad);
    const { s, header } = this.suiteOf(message);
    const kp = s.kem.name === 'X25519' ? this.keys.x25519 : this.keys.xwing;
    if (!kp) throw new SealError('KEY_MISMATCH', `no ${s.kem.name} key configured for this worker`);
    if (message.length !== HEADER_LENGTH + s.kem.Nenc + s.aead.Nt) throw new SealError('MALFORMED_MESSAGE', 'session open has the wrong length');
    const enc = message.slice(HEADER_LENGTH, HEADER_LENGTH + s.kem.Nenc);
    const ctx = await setupBaseR(s, enc, kp.secretKey, sessionInfo(header), kp.publicKey);
    ctx.open(message.subarray(HEADER_LENGTH + s.kem.Nenc), aad); // OPEN_FAILED: altered, or for another key or context
    const replayId = sha256(enc);
    this.guard.checkAndRemember(replayId);
    const id = bytesToHex(replayId.subarray(0, SESSION_ID_LENGTH));
    this.prune();
    while (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value as string);
    this.sessions.set(id, { suite: s, kem: s.kem.name, header: header.slice(), ctx, expires: this.now() + this.maxAgeMs, window: new ReplayWindow(this.windowSize) });
    return id;
  }

  /**
   * Opens a request sealed under a held session. Synchronous. Throws
   * UNKNOWN_SESSION (never opened here, evicted or expired: the sender opens a
   * new one and resends), OPEN_FAILED, REPLAY, MALFORMED_MESSAGE.
   */
  open(message: Uint8Array, aad: Uint8Array): OpenedRequest {
    requireBytes('message', message);
    requireBytes('aad', aad);
    const fixed = HEADER_LENGTH + SESSION_ID_LENGTH + COUNTER_LENGTH;
    if (message.length < fixed) throw new SealError('MALFORMED_MESSAGE', 'session request shorter than its header');
    const id = bytesToHex(message.subarray(HEADER_LENGTH, HEADER_LENGTH + SESSION_ID_LENGTH));
    const sess = this.sessions.get(id);
    if (!sess || sess.expires <= this.now()) {
      if (sess) this.sessions.delete(id);
      throw new SealError('UNKNOWN_SESSION', 'no such session here (expired, evicted or never opened)');
    }
    for (let i = 0; i < HEADER_LENGTH; i++) {
      if (message[i] !== sess.header[i]) throw new SealError('UNSUPPORTED_SUITE', "header differs from the session's suite");
    }
    if (message.length < fixed + sess.suite.aead.Nt) throw new SealError('MALFORMED_MESSAGE', 'session request too short');
    const counterBytes = message.subarray(HEADER_LENGTH + SESSION_ID_LENGTH, fixed);
    let n = 0;
    for (let i = 0; i < COUNTER_LENGTH; i++) n = n * 256 + counterBytes[i]!;
    if (n > MAX_COUNTER) throw new SealError('MALFORMED_MESSAGE', 'request number out of range');
    if (!sess.window.fresh(n)) throw new SealError('REPLAY', 'session request replayed or too old');
    const ctx = requestContext(sess.ctx, sess.suite, n, RecipientContext);
    const body = ctx.open(message.subarray(fixed), aad);
    sess.window.remember(n); // only after it authenticated: forgeries cannot burn numbers
    const enc = message.slice(HEADER_LENGTH, fixed);
    return { body, sealer: new ResponseSealer({ ctx, kdf: HKDF_SHA256, aead: sess.suite.aead, enc }), replayId: enc, kem: sess.kem, aead: sess.suite.aead.name };
  }

  /** Forget every session (after a key rotation, nothing under the old key opens anyway). */
  clear(): void {
    this.sessions.clear();
  }

  private suiteOf(message: Uint8Array): { s: Suite; header: Uint8Array } {
    const h = decodeHeader(message);
    if (h.version !== PROTOCOL_VERSION) throw new SealError('UNSUPPORTED_SUITE', `unsupported protocol version ${h.version}`);
    kemById(h.kemId);
    aeadById(h.aeadId);
    return { s: suite(h.kemId, h.kdfId, h.aeadId), header: message.subarray(0, HEADER_LENGTH) };
  }

  private prune(): void {
    const t = this.now();
    for (const [id, s] of this.sessions) if (s.expires <= t) this.sessions.delete(id);
  }
}

/**
 * Anti-replay window over request numbers (as IPsec's, RFC 4303 §3.4.3): the
 * highest number seen and a bitmap of the `size` numbers below it. Numbers
 * below the window are refused, since whether they were seen is forgotten.
 */
export class ReplayWindow {
  private top = -1;
  private readonly bits: Uint32Array;

  constructor(readonly size: number) {
    this.bits = new Uint32Array(size / 32);
  }

  /** True if `n` has not been remembered and is not below the window. */
  fresh(n: number): boolean {
    if (n > this.top) return true;
    if (n <= this.top - this.size) return false;
    const i = n % this.size;
    return (this.bits[i >>> 5]! & (1 << (i & 31))) === 0;
  }

  /** Records `n` (call only after `fresh(n)` and authentication). */
  remember(n: number): void {
    if (n > this.top) {
      // Clear the slots the window slides past (they now stand for new numbers).
      const from = Math.max(this.top + 1, n - this.size + 1);
      for (let k = from; k <= n; k++) {
        const i = k % this.size;
        this.bits[i >>> 5]! &= ~(1 << (i & 31));
      }
      this.top = n;
    }
    const i = n % this.size;
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }
}
