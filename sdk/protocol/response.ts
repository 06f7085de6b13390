/**
 * Sealed, chunked responses (modelled on RFC 9458 §4.4 and
 * draft-ietf-ohai-chunked-ohttp).
 *
 *   secret         = context.Export("sealgate/v1 response", max(Nn, Nk))
 *   response_nonce = random(max(Nn, Nk))
 *   salt           = enc || response_nonce
 *   prk            = Extract(salt, secret)
 *   aead_key       = Expand(prk, "key", Nk)
 *   aead_nonce     = Expand(prk, "nonce", Nn)
 *   chunk i        = Seal(aead_key, aead_nonce XOR I2OSP(i, Nn), final ? "final" : "", pt_i)
 *
 * Stream = response_nonce || frame_0 || frame_1 || ... || frame_n (frame_n final)
 * frame  = flags (1 byte: 0x00 non-final, 0x01 final) || varint(seq) || varint(len) || ct
 *
 * See docs/PROTOCOL.md for the byte-level description.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { SealError } from '../hpke/errors.ts';
import { concat, utf8, type Aead, type Context, type Kdf, type KeyedAead } from '../hpke/hpke.ts';
import { ByteQueue, readVarint, varintLength, writeVarint } from './wire.ts';

export const RESPONSE_EXPORT_LABEL = 'sealgate/v1 response';
const AAD_FINAL = utf8('final');
const AAD_NONFINAL = new Uint8Array(0);
const FLAG_NONFINAL = 0x00;
const FLAG_FINAL = 0x01;

/** Default upper bound on a single chunk's ciphertext (bounds the opener's buffering). */
export const DEFAULT_MAX_CHUNK = 16 * 1024 * 1024;

export interface ResponseKeys {
  key: Uint8Array;
  nonce: Uint8Array;
}

/** chunk_nonce(i) = base XOR I2OSP(i, Nn), written into `out` (a per-sealer/opener scratch: no allocation per chunk). */
function chunkNonce(base: Uint8Array, seq: number, out: Uint8Array): Uint8Array {
  out.set(base);
  let c = seq;
  for (let i = out.length - 1; i >= 0 && c > 0; i--) {
    out[i]! ^= c % 256;
    c = Math.floor(c / 256);
  }
  return out;
}

export function responseNonceLength(aead: Aead): number {
  return Math.max(aead.Nn, aead.Nk);
}

/** Derive the response AEAD key and base nonce (RFC 9458 §4.4 shape). */
export function deriveResponseKeys(
  ctx: Context,
  kdf: Kdf,
  aead: Aead,
  enc: Uint8Array,
  responseNonce: Uint8Array,
): ResponseKeys {
  const secret = ctx.export(utf8(RESPONSE_EXPORT_LABEL), responseNonceLength(aead));
  const prk = kdf.extract(concat(enc, responseNonce), secret);
  return {
    key: kdf.expand(prk, utf8('key'), aead.Nk),
    nonce: kdf.expand(prk, utf8('nonce'), aead.Nn),
  };
}

export interface SealChunkOptions {
  /** Marks the last chunk of the response. Exactly one chunk, the last, is final. */
  final: boolean;
}

/**
 * Worker side: seals response chunks. The first call to `seal` also emits the
 * response nonce, so the concatenation of everything `seal` returns is the
 * complete response stream.
 */
export class ResponseSealer {
  readonly aead: Aead;
  private readonly keys: ResponseKeys;
  private readonly cipher: KeyedAead;
  private readonly nonce: Uint8Array;
  private readonly responseNonce: Uint8Array;
  private readonly maxChunk: number;
  private seq = 0;
  private started = false;
  private finished = false;

  /** @internal use openRequest(); constructed from the request's HPKE context. */
  constructor(args: {
    ctx: Context;
    kdf: Kdf;
    aead: Aead;
    enc: Uint8Array;
    /** test-only: fixed response nonce */
    responseNonce?: Uint8Array;
    maxChunk?: number;
  }) {
    this.aead = args.aead;
    const n = responseNonceLength(args.aead);
    const rn = args.responseNonce ?? randomBytes(n);
    if (rn.length !== n) throw new SealError('INVALID_ARGUMENT', `response nonce must be ${n} bytes`);
    this.responseNonce = rn;
    this.keys = deriveResponseKeys(args.ctx, args.kdf, args.aead, args.enc, rn);
    this.cipher = args.aead.keyed(this.keys.key);
    this.nonce = new Uint8Array(args.aead.Nn);
    this.maxChunk = args.maxChunk ?? DEFAULT_MAX_CHUNK;
  }

  /** True once the final chunk has been sealed. */
  get done(): boolean {
    return this.finished;
  }

  /** Number of chunks sealed so far. */
  get chunks(): number {
    return this.seq;
  }

  /** Seal one chunk; returns framed bytes ready to send (prefixed by the response nonce on the first call). */
  seal(plaintext: Uint8Array, opts: SealChunkOptions): Uint8Array {
    if (!(plaintext instanceof Uint8Array)) throw new SealError('INVALID_ARGUMENT', 'plaintext must be a Uint8Array');
    if (this.finished) throw new SealError('STATE_ERROR', 'response already finished');
    const final = opts.final === true;
    const ctLen = plaintext.length + this.aead.Nt;
    if (ctLen > this.maxChunk) throw new SealError('INVALID_ARGUMENT', 'chunk exceeds the maximum chunk size');
    const seq = this.seq;
    const prefix = this.started ? 0 : this.responseNonce.length;
    // The ciphertext is written straight into the frame (no intermediate buffer).
    const out = new Uint8Array(prefix + 1 + varintLength(seq) + varintLength(ctLen) + ctLen);
    let o = 0;
    if (!this.started) {
      out.set(this.responseNonce, 0);
      o = prefix;
    }
    out[o++] = final ? FLAG_FINAL : FLAG_NONFINAL;
    o = writeVarint(out, o, seq);
    o = writeVarint(out, o, ctLen);
    this.cipher.sealInto(chunkNonce(this.keys.nonce, seq, this.nonce), final ? AAD_FINAL : AAD_NONFINAL, plaintext, out, o);
    this.started = true;
    this.seq++;
    if (final) this.finished = true;
    return out;
  }

  /**
   * A TransformStream that seals every input chunk as a non-final chunk and,
   * when the input ends normally, appends an empty final chunk. If the input
   * errors, no final chunk is written, so the client sees TRUNCATED — a
   * worker dying mid-stream is never a silent, complete-looking response.
   */
  sealResponseStream(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        controller.enqueue(this.seal(chunk, { final: false }));
      },
      flush: (controller) => {
        if (!this.finished) controller.enqueue(this.seal(new Uint8Array(0), { final: true }));
      },
    });
  }
}

/**
 * Client side: incremental opener for a sealed response stream. Feed bytes as
 * they arrive with `push` (it takes ownership of the buffers), collect the
 * plaintext chunks it returns, and call `end()` when the transport ends:
 * `end()` throws TRUNCATED unless an authenticated final chunk was seen.
 * Any error poisons the opener: later calls rethrow it.
 */
export class ResponseOpener {
  readonly aead: Aead;
  private readonly deriveKeys: (responseNonce: Uint8Array) => ResponseKeys;
  private keys: ResponseKeys | null = null;
  private cipher: KeyedAead | null = null;
  private readonly nonce: Uint8Array;
  private readonly queue = new ByteQueue();
  private readonly maxChunk: number;
  private seq = 0;
  private finished = false;
  private failed: SealError | null = null;

  /** @internal use sealRequest(); constructed from the request's HPKE context. */
  constructor(args: { ctx: Context; kdf: Kdf; aead: Aead; enc: Uint8Array; maxChunk?: number }) {
    this.aead = args.aead;
    const { ctx, kdf, aead, enc } = args;
    this.deriveKeys = (rn) => deriveResponseKeys(ctx, kdf, aead, enc, rn);
    this.nonce = new Uint8Array(aead.Nn);
    this.maxChunk = args.maxChunk ?? DEFAULT_MAX_CHUNK;
  }

  /** True once the authenticated final chunk has been opened. */
  get done(): boolean {
    return this.finished;
  }

  /** Number of chunks opened so far. */
  get chunks(): number {
    return this.seq;
  }

  push(bytes: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failed;
    if (!(bytes instanceof Uint8Array)) throw new SealError('INVALID_ARGUMENT', 'push() takes a Uint8Array');
    try {
      return this.pushInner(bytes);
    } catch (e) {
      this.failed =
        e instanceof SealError ? e : new SealError('MALFORMED_MESSAGE', 'response parsing failed', { cause: e });
      throw this.failed;
    }
  }

  /** Call when the transport ends. Throws TRUNCATED if no final chunk was seen. */
  end(): void {
    if (this.failed) throw this.failed;
    if (!this.finished) {
      this.failed = new SealError(
        'TRUNCATED',
        this.queue.length > 0 ? 'response ended in the middle of a chunk' : 'response ended without a final chunk',
      );
      throw this.failed;
    }
  }

  private pushInner(bytes: Uint8Array): Uint8Array[] {
    if (this.finished) {
      if (bytes.length === 0) return [];
      throw new SealError('MALFORMED_MESSAGE', 'data after the final chunk');
    }
    this.queue.push(bytes);
    const out: Uint8Array[] = [];
    const q = this.queue;
    if (!this.keys) {
      const n = responseNonceLength(this.aead);
      if (q.length < n) return out;
      this.keys = this.deriveKeys(q.take(n));
      this.cipher = this.aead.keyed(this.keys.key);
    }
    const keys = this.keys;
    const cipher = this.cipher!;
    while (q.length > 0) {
      // flags (1) + seq varint (<= 8) + len varint (<= 8)
      const head = q.peek(Math.min(q.length, 17));
      const flags = head[0]!;
      if (flags !== FLAG_NONFINAL && flags !== FLAG_FINAL) {
        throw new SealError('MALFORMED_MESSAGE', 'unknown chunk flags');
      }
      const s = readVarint(head, 1);
      if (!s) break;
      const l = readVarint(head, s.next);
      if (!l) break;
      const len = l.value;
      if (len < this.aead.Nt) throw new SealError('MALFORMED_MESSAGE', 'chunk shorter than the AEAD tag');
      if (len > this.maxChunk) throw new SealError('MALFORMED_MESSAGE', 'chunk exceeds the maximum chunk size');
      // Sequence checks before decryption: precise codes for reorder and duplication.
      // The sequence number is also bound by the nonce, so rewriting it only turns these into OPEN_FAILED.
      if (s.value < this.seq) throw new SealError('DUPLICATE', `chunk ${s.value} already received`);
      if (s.value > this.seq) throw new SealError('REORDERED', `expected chunk ${this.seq}, got ${s.value}`);
      if (q.length < l.next + len) break;
      q.skip(l.next);
      const ct = q.take(len);
      const final = flags === FLAG_FINAL;
      const pt = cipher.open(chunkNonce(keys.nonce, this.seq, this.nonce), final ? AAD_FINAL : AAD_NONFINAL, ct);
      this.seq++;
      out.push(pt);
      if (final) {
        this.finished = true;
        if (q.length > 0) throw new SealError('MALFORMED_MESSAGE', 'data after the final chunk');
        break;
      }
    }
    return out;
  }

  /**
   * Pipe a sealed response byte stream through this opener. The returned
   * stream yields plaintext chunks and errors with the SealError (TRUNCATED,
   * OPEN_FAILED, ...) if the response is not complete and authentic.
   */
  openResponseStream(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    return stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          for (const pt of this.push(chunk)) controller.enqueue(pt);
        },
        flush: () => {
          this.end();
        },
      }),
    );
  }

  /**
   * Convenience for non-streamed use: open a complete response held in memory
   * and return the concatenated plaintext.
   */
  openAll(bytes: Uint8Array): Uint8Array {
    const parts = this.push(bytes);
    this.end();
    return concat(...parts);
  }
}

/** Free-function form of ResponseOpener.openResponseStream. */
export function openResponseStream(
  opener: ResponseOpener,
  stream: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  return opener.openResponseStream(stream);
}

/** Free-function form of ResponseSealer.sealResponseStream. */
export function sealResponseStream(sealer: ResponseSealer): TransformStream<Uint8Array, Uint8Array> {
  return sealer.sealResponseStream();
}
