/**
 * Sealed requests (modelled on RFC 9458 §4.3, "Encapsulation of Requests").
 *
 *   header  = version (1) || kem_id (2) || kdf_id (2) || aead_id (2)
 *   info    = "sealgate/v1 request" || 0x00 || header
 *   enc, ct = HPKE SealBase(pkR, info, aad = caller's clear routing metadata, body)
 *   message = header || enc || ct
 *
 * See docs/PROTOCOL.md.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { SealError } from '../hpke/errors.ts';
import {
  HKDF_SHA256,
  KDF_HKDF_SHA256,
  aeadById,
  aeadByName,
  concat,
  kemById,
  kemByName,
  setupBaseR,
  setupBaseS,
  suite,
  utf8,
  equalBytes,
  type AeadName,
  type KemName,
  type KeyPair,
  type SenderContext,
} from '../hpke/hpke.ts';
import { PROTOCOL_VERSION, HEADER_LENGTH, decodeHeader, encodeHeader } from './wire.ts';
import { ResponseOpener, ResponseSealer } from './response.ts';
import type { ReplayGuard } from './replay.ts';

export const REQUEST_INFO_LABEL = 'sealgate/v1 request';
/** ChaCha20-Poly1305 is the default: with @noble/ciphers it is about 2-3x faster than AES-128-GCM per small chunk. */
export const DEFAULT_AEAD: AeadName = 'ChaCha20-Poly1305';

export interface Recipient {
  kem: KemName;
  publicKey: Uint8Array;
}

export interface SealRequestOptions {
  recipient: Recipient;
  aead?: AeadName;
  body: Uint8Array;
  /** Clear routing metadata (e.g. canonical JSON of {model, workerId}); authenticated, not encrypted. */
  aad: Uint8Array;
  /**
   * A sender set-up done ahead of time for this recipient and AEAD
   * (`prepareSender`, or a `SenderPool`): the encapsulation then leaves the
   * request's critical path. It is consumed — a second use is STATE_ERROR.
   */
  prepared?: PreparedSender;
}

export interface SealedRequest {
  message: Uint8Array;
  opener: ResponseOpener;
}

export interface RecipientKeys {
  x25519?: KeyPair;
  xwing?: KeyPair;
}

export interface OpenRequestOptions {
  keys: RecipientKeys;
  message: Uint8Array;
  aad: Uint8Array;
  /**
   * Optional: when given, the replay id is checked and recorded in this guard
   * after the request authenticates (so unauthenticated garbage cannot poison it).
   */
  replayGuard?: ReplayGuard;
}

export interface OpenedRequest {
  body: Uint8Array;
  sealer: ResponseSealer;
  /** SHA-256(enc): unique per request; the worker rejects a second request with the same id. */
  replayId: Uint8Array;
  kem: KemName;
  aead: AeadName;
}

/** @internal test-only randomness injection (see ./testing.ts). */
export interface SealRandomness {
  ikmE?: Uint8Array;
}
/** @internal test-only randomness injection (see ./testing.ts). */
export interface OpenRandomness {
  responseNonce?: Uint8Array;
}

function requireBytes(name: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new SealError('INVALID_ARGUMENT', `${name} must be a Uint8Array`);
}

export function requestInfo(header: Uint8Array): Uint8Array {
  return concat(utf8(REQUEST_INFO_LABEL), Uint8Array.of(0), header);
}

export function replayIdFor(enc: Uint8Array): Uint8Array {
  return sha256(enc);
}

/**
 * One HPKE sender set-up (encapsulation + key schedule) for one recipient,
 * made before the request exists. Single use: `sealRequest` consumes it, and
 * a consumed one can never seal again, so no two requests share an `enc`.
 */
export class PreparedSender {
  readonly kem: KemName;
  readonly aead: AeadName;
  readonly publicKey: Uint8Array;
  /** When it was made (ms since the epoch, from Date.now). */
  readonly createdAt: number;
  private parts: { header: Uint8Array; enc: Uint8Array; ctx: SenderContext } | null;

  /** @internal use prepareSender() */
  constructor(kem: KemName, aead: AeadName, publicKey: Uint8Array, parts: { header: Uint8Array; enc: Uint8Array; ctx: SenderContext }) {
    this.kem = kem;
    this.aead = aead;
    this.publicKey = publicKey;
    this.createdAt = Date.now();
    this.parts = parts;
  }

  /** True once it has sealed a request (or was discarded). */
  get spent(): boolean {
    return this.parts === null;
  }

  /** Forget the context without using it. */
  discard(): void {
    this.parts = null;
  }

  /** @internal hands the context out exactly once. */
  consume(): { header: Uint8Array; enc: Uint8Array; ctx: SenderContext } {
    const p = this.parts;
    if (!p) throw new SealError('STATE_ERROR', 'prepared sender already used: an encapsulation is never reused');
    this.parts = null;
    return p;
  }
}

function senderSuite(recipient: Recipient, aeadName: AeadName | undefined) {
  if (!recipient || typeof recipient !== 'object') throw new SealError('INVALID_ARGUMENT', 'recipient required');
  requireBytes('recipient.publicKey', recipient.publicKey);
  const kem = kemByName(recipient.kem);
  const aead = aeadByName(aeadName ?? DEFAULT_AEAD);
  if (recipient.publicKey.length !== kem.Npk) {
    throw new SealError('KEY_MISMATCH', `${kem.name} public key must be ${kem.Npk} bytes`);
  }
  const header = encodeHeader({ version: PROTOCOL_VERSION, kemId: kem.id, kdfId: KDF_HKDF_SHA256, aeadId: aead.id });
  return { kem, aead, header, s: suite(kem.id, KDF_HKDF_SHA256, aead.id) };
}

/**
 * Client: do a request's encapsulation and key schedule now, for a recipient
 * whose key came out of verified evidence (never for an unverified key).
 */
export async function prepareSender(recipient: Recipient, aead?: AeadName): Promise<PreparedSender> {
  const { kem, aead: a, header, s } = senderSuite(recipient, aead);
  const { enc, ctx } = await setupBaseS(s, recipient.publicKey, requestInfo(header));
  return new PreparedSender(kem.name, a.name, recipient.publicKey.slice(), { header, enc, ctx });
}

/** @internal */
export async function sealRequestWith(opts: SealRequestOptions, rand: SealRandomness): Promise<SealedRequest> {
  if (!opts || typeof opts !== 'object') throw new SealError('INVALID_ARGUMENT', 'options required');
  const { recipient, prepared } = opts;
  const { kem, aead, header, s } = senderSuite(recipient, opts.aead);
  requireBytes('body', opts.body);
  requireBytes('aad', opts.aad);
  let enc: Uint8Array;
  let ctx: SenderContext;
  if (prepared) {
    if (!(prepared instanceof PreparedSender)) throw new SealError('INVALID_ARGUMENT', 'prepared must come from prepareSender()');
    if (rand.ikmE) throw new SealError('INVALID_ARGUMENT', 'prepared and fixed randomness are exclusive');
    if (prepared.kem !== kem.name || prepared.aead !== aead.name || !equalBytes(prepared.publicKey, recipient.publicKey)) {
      throw new SealError('INVALID_ARGUMENT', 'prepared sender is for another recipient or suite');
    }
    ({ enc, ctx } = prepared.consume());
  } else {
    const setupOpts = rand.ikmE ? { ikmE: rand.ikmE } : {};
    ({ enc, ctx } = await setupBaseS(s, recipient.publicKey, requestInfo(header), setupOpts));
  }
  const ct = ctx.seal(opts.body, opts.aad);
  const message = concat(header, enc, ct);
  const opener = new ResponseOpener({ ctx, kdf: HKDF_SHA256, aead, enc });
  return { message, opener };
}

/**
 * Client: seal a request body to a worker's HPKE key. Resolves to the message
 * to send and the opener for the response (it holds the HPKE context). Async
 * because X25519 runs on Web Crypto where available; every error is a
 * rejected promise (SealError), never a synchronous throw.
 */
export function sealRequest(opts: SealRequestOptions): Promise<SealedRequest> {
  return sealRequestWith(opts, {});
}

/** @internal */
export async function openRequestWith(opts: OpenRequestOptions, rand: OpenRandomness): Promise<OpenedRequest> {
  if (!opts || typeof opts !== 'object') throw new SealError('INVALID_ARGUMENT', 'options required');
  requireBytes('message', opts.message);
  requireBytes('aad', opts.aad);
  const { message } = opts;
  const h = decodeHeader(message);
  if (h.version !== PROTOCOL_VERSION) {
    throw new SealError('UNSUPPORTED_SUITE', `unsupported protocol version ${h.version}`);
  }
  const kem = kemById(h.kemId);
  const aead = aeadById(h.aeadId);
  const s = suite(h.kemId, h.kdfId, h.aeadId); // UNSUPPORTED_SUITE for any KDF but HKDF-SHA256
  const header = message.subarray(0, HEADER_LENGTH);
  if (message.length < HEADER_LENGTH + kem.Nenc + aead.Nt) {
    throw new SealError('MALFORMED_MESSAGE', 'message too short');
  }
  const kp = kem.name === 'X25519' ? opts.keys?.x25519 : opts.keys?.xwing;
  if (!kp) throw new SealError('KEY_MISMATCH', `no ${kem.name} key configured for this worker`);
  requireBytes('secretKey', kp.secretKey);
  requireBytes('publicKey', kp.publicKey);
  const enc = message.slice(HEADER_LENGTH, HEADER_LENGTH + kem.Nenc);
  const ct = message.subarray(HEADER_LENGTH + kem.Nenc);
  const ctx = await setupBaseR(s, enc, kp.secretKey, requestInfo(header), kp.publicKey);
  const body = ctx.open(ct, opts.aad);
  const replayId = replayIdFor(enc);
  if (opts.replayGuard) opts.replayGuard.checkAndRemember(replayId);
  const sealer = new ResponseSealer(
    rand.responseNonce ? { ctx, kdf: HKDF_SHA256, aead, enc, responseNonce: rand.responseNonce } : { ctx, kdf: HKDF_SHA256, aead, enc },
  );
  return { body, sealer, replayId, kem: kem.name, aead: aead.name };
}

/**
 * Worker: open a sealed request with the worker's HPKE keys. `aad` must be
 * the clear routing metadata the worker received alongside the message;
 * any difference from what the client sealed fails with OPEN_FAILED. Async
 * (Web Crypto X25519); errors are rejected promises (SealError).
 */
export function openRequest(opts: OpenRequestOptions): Promise<OpenedRequest> {
  return openRequestWith(opts, {});
}
