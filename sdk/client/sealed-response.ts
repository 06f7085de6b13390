/**
 * Opening a sealed response incrementally (PROTOCOL.md §7 and §12): reads the
 * transport, feeds `ResponseOpener`, splits the plaintext into head, body and
 * trailer messages, and keeps the SHA-256 of every sealed byte before the
 * final frame (the receipt's `responseDigest`) without buffering the stream.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../attestation/util/bytes.ts';
import { SealError, isSealError, type ResponseOpener } from '../protocol/index.ts';
import { varintLength } from '../protocol/wire.ts';

export interface SealedMessage {
  bytes: Uint8Array;
  /** True for the last (final) chunk: the trailer. */
  final: boolean;
}

/** The head message: the backend's status and content type. */
export interface SealedHead {
  status: number;
  contentType: string;
}

/**
 * Pulls sealed messages off a response body. `next()` returns the next
 * plaintext message or throws a `SealError` (TRUNCATED when the transport
 * ends or breaks before the final chunk).
 */
export class SealedMessageReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly hasher = sha256.create();
  private readonly raw: Uint8Array[] = [];
  private readonly nonceLength: number;
  private readonly tagLength: number;
  private readonly queue: SealedMessage[] = [];
  /** Absolute offsets in the sealed stream. */
  private received = 0;
  private hashed = 0;
  private opened = 0;
  private chunks = 0;
  private ended = false;
  private digest: string | null = null;
  /** True once any plaintext has been handed out. */
  released = false;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly opener: ResponseOpener,
  ) {
    this.reader = body.getReader();
    this.nonceLength = Math.max(opener.aead.Nn, opener.aead.Nk);
    this.tagLength = opener.aead.Nt;
    this.opened = this.nonceLength;
  }

  /** Hex SHA-256 of every sealed byte before the final frame; available once the trailer was read. */
  get responseDigest(): string {
    if (this.digest === null) throw new SealError('STATE_ERROR', 'response digest is known only after the final chunk');
    return this.digest;
  }

  /** The next plaintext message (head, body chunk or trailer). Never returns after the trailer. */
  async next(): Promise<SealedMessage> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        this.released = true;
        return m;
      }
      if (this.ended) throw new SealError('STATE_ERROR', 'read past the final chunk');
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await this.reader.read();
      } catch (e) {
        throw new SealError('TRUNCATED', 'the response stream broke before its final chunk', { cause: e });
      }
      if (r.done) {
        this.opener.end(); // throws TRUNCATED (or the earlier error) unless the final chunk was opened
        throw new SealError('TRUNCATED', 'response ended without a final chunk');
      }
      this.accept(r.value);
    }
  }

  private accept(bytes: Uint8Array) {
    if (bytes.length === 0) return;
    this.raw.push(bytes);
    this.received += bytes.length;
    const pts = this.opener.push(bytes);
    for (let i = 0; i < pts.length; i++) {
      const pt = pts[i]!;
      const final = this.opener.done && i === pts.length - 1;
      if (final) {
        this.hashTo(this.opened);
        this.digest = toHex(this.hasher.digest());
        this.raw.length = 0;
        this.ended = true;
      } else {
        const ct = pt.length + this.tagLength;
        this.opened += 1 + varintLength(this.chunks) + varintLength(ct) + ct;
      }
      this.chunks++;
      this.queue.push({ bytes: pt, final });
    }
    if (!this.ended) this.hashTo(Math.min(this.opened, this.received));
  }

  /** Feeds the hasher with the stream's bytes up to absolute offset `target`. */
  private hashTo(target: number) {
    while (this.hashed < target) {
      const head = this.raw[0]!;
      const n = Math.min(head.length, target - this.hashed);
      this.hasher.update(head.subarray(0, n));
      this.hashed += n;
      if (n === head.length) this.raw.shift();
      else this.raw[0] = head.subarray(n);
    }
  }

  /** Stops reading (the caller went away or the response was rejected). */
  async cancel(reason?: unknown): Promise<void> {
    this.ended = true;
    await this.reader.cancel(reason).catch(() => {});
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseJsonMessage(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new SealError('PROTOCOL_ERROR', `sealed ${what} is not JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SealError('PROTOCOL_ERROR', `sealed ${what} is not an object`);
  return v as Record<string, unknown>;
}

export function parseHead(m: SealedMessage): SealedHead {
  if (m.final) throw new SealError('PROTOCOL_ERROR', 'sealed response has no head before its final chunk');
  const h = parseJsonMessage(m.bytes, 'head');
  const status = h.status;
  const contentType = h.contentType;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new SealError('PROTOCOL_ERROR', 'sealed head has no valid status');
  }
  if (typeof contentType !== 'string' || contentType.length > 256) throw new SealError('PROTOCOL_ERROR', 'sealed head has no content type');
  return { status, contentType };
}

export { isSealError };

const LF = 0x0a;
const CR = 0x0d;
const DONE_PREFIX = new TextEncoder().encode('data: [DONE]');
const DONE_PREFIX_NOSPACE = new TextEncoder().encode('data:[DONE]');

function startsWith(b: Uint8Array, p: Uint8Array): boolean {
  if (b.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[i] !== p[i]) return false;
  return true;
}

/**
 * Splits SSE bytes at event boundaries so that only complete events go to the
 * caller, and holds back `data: [DONE]` (and anything after it) until the
 * receipt has been checked — the official client ignores everything after
 * `[DONE]`, so an error must come before it.
 */
export class SseGate {
  private tail: Uint8Array = new Uint8Array(0);
  private held: Uint8Array[] = [];
  private done = false;

  /** Complete events that may be released now. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.done) {
      this.held.push(chunk);
      return [];
    }
    let buf: Uint8Array;
    if (this.tail.length) {
      buf = new Uint8Array(this.tail.length + chunk.length);
      buf.set(this.tail);
      buf.set(chunk, this.tail.length);
    } else buf = chunk;
    const out: Uint8Array[] = [];
    let start = 0;
    let releaseEnd = 0;
    for (let i = 0; i < buf.length; i++) {
      // Event boundary: a blank line (\n\n, \r\n\r\n or \r\r).
      const c = buf[i];
      let end = -1;
      if (c === LF && buf[i + 1] === LF) end = i + 2;
      else if (c === CR && buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) end = i + 4;
      else if (c === CR && buf[i + 1] === CR) end = i + 2;
      if (end < 0) continue;
      const event = buf.subarray(start, end);
      if (isDoneEvent(event)) {
        if (releaseEnd > 0) out.push(buf.subarray(0, releaseEnd));
        this.done = true;
        this.held.push(buf.subarray(start));
        this.tail = new Uint8Array(0);
        return out;
      }
      releaseEnd = end;
      start = end;
      i = end - 1;
    }
    if (releaseEnd > 0) out.push(buf.subarray(0, releaseEnd));
    this.tail = buf.slice(releaseEnd);
    return out;
  }

  /** Everything held back, to release once the response is known complete and authentic. */
  finish(): Uint8Array[] {
    const rest = [...this.held];
    if (this.tail.length) rest.push(this.tail);
    this.held = [];
    this.tail = new Uint8Array(0);
    return rest;
  }

  /** Drop what is held (the response failed): an incomplete event must not reach the parser. */
  discard(): void {
    this.held = [];
    this.tail = new Uint8Array(0);
  }
}

const DONE = new TextEncoder().encode('[DONE]');

function isDoneEvent(event: Uint8Array): boolean {
  // Fast path: the usual one-line event.
  if (startsWith(event, DONE_PREFIX) || startsWith(event, DONE_PREFIX_NOSPACE)) return true;
  // Anything else is `[DONE]` only if those bytes occur at all (a byte scan; no decoding per event).
  const last = event.length - DONE.length;
  let found = false;
  for (let i = 0; i <= last && !found; i++) {
    if (event[i] !== 0x5b) continue;
    found = true;
    for (let j = 1; j < DONE.length; j++) {
      if (event[i + j] !== DONE[j]) {
        found = false;
        break;
      }
    }
  }
  if (!found || event.length > 4096) return false;
  return /(^|[\r\n])data: ?\[DONE\][\r\n]/.test(new TextDecoder().decode(event));
}

/** The SSE event that makes the official client throw: `event: error` + an OpenAI error object. */
export function sseErrorEvent(error: { message: string; type: string; param: string | null; code: string | null }): Uint8Array {
  return new TextEncoder().encode(`event: error\ndata: ${JSON.stringify({ error })}\n\n`);
}

export function sealCodeOf(e: unknown): string | undefined {
  return isSealError(e) ? e.code : undefined;
}
