/**
 * The plain path's gateway → worker hop, sealed (docs/PROTOCOL.md §14): the
 * gateway holds one session per worker (sdk/protocol/session.ts), opened to
 * the HPKE key the worker's verified evidence binds, and sends each plain
 * request sealed under it; the worker answers with a sealed response that is
 * opened here. The GPU host between the two sees ciphertext only, and no
 * request pays for a key encapsulation.
 */
import { canonicalJson } from '../../attestation/binding.ts';
import { concatByteList, utf8 } from '../../attestation/util/bytes.ts';
import {
  SESSION_OPEN_TYPE,
  SESSION_REQUEST_TYPE,
  SessionSender,
  selectRecipient,
  type ResponseOpener,
} from '../../sdk/protocol/index.ts';
import { SEALED_RESPONSE_TYPE } from '../../sdk/protocol/wire.ts';
import type { AdmittedWorker, Endpoint } from '../registry/index.ts';
import type { UpstreamAnswer, UpstreamPost } from './body.ts';

export interface HopOptions {
  /** A session is replaced after this long, ms (default 10 minutes). */
  rotateMs?: number;
  /** Time allowed for a session open, ms. */
  openTimeoutMs: number;
  now?: () => number;
}

interface Held {
  at: number;
  /** The worker URL the session was opened at (a worker re-registered elsewhere gets a new one). */
  url: string;
  session: Promise<SessionSender>;
  /** `session` once open, for synchronous comparison. */
  open: SessionSender | null;
  /** The replacement being opened while this one still serves. */
  next: Promise<SessionSender> | null;
}

/** A worker refused a session open or could not be reached for it. */
export class HopOpenError extends Error {
  override readonly name = 'HopOpenError';
}

/**
 * The gateway's sessions to its workers: one per worker, opened on first use,
 * replaced in the background every `rotateMs` (the old one serves until its
 * replacement is open), dropped when the worker says it no longer holds it.
 *
 * @example
 * const hops = new HopSessions(post, { openTimeoutMs: 10_000 });
 * const answer = await hops.send(worker, { endpoint, model, body, headers, signal, whole: true });
 */
export class HopSessions {
  private readonly held = new Map<string, Held>();
  private readonly rotateMs: number;
  private readonly openTimeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly post: UpstreamPost,
    opts: HopOptions,
  ) {
    this.rotateMs = opts.rotateMs ?? 600_000;
    this.openTimeoutMs = opts.openTimeoutMs;
    this.now = opts.now ?? (() => Date.now());
  }

  /**
   * Sends one plain request to `worker` sealed under its session and resolves
   * to the worker's answer as plain data, as if the worker had answered in
   * clear. A session the worker no longer holds is replaced and the request
   * resent once (the worker did nothing with it).
   */
  async send(
    worker: AdmittedWorker,
    req: { endpoint: Endpoint; model: string; body: string | Uint8Array; headers: Record<string, string>; signal: AbortSignal; whole: boolean },
  ): Promise<UpstreamAnswer> {
    const body = typeof req.body === 'string' ? utf8(req.body) : req.body;
    const aad = routeAad(req.endpoint, req.model, worker.id);
    const headers = {
      ...req.headers,
      'content-type': SESSION_REQUEST_TYPE,
      'x-sealgate-endpoint': req.endpoint,
      'x-sealgate-model': req.model,
      'x-sealgate-worker': worker.id,
    };
    for (let resent = false; ; resent = true) {
      const session = await this.session(worker);
      const { message, opener } = session.seal(body, aad);
      const answer = await this.post(worker.url + '/v1/sealed', headers, message, req.signal, true, req.whole);
      if (answer.status === 200 && answer.contentType.startsWith(SEALED_RESPONSE_TYPE)) return openAnswer(answer, opener, req.whole);
      if (!resent && answer.status === 400 && errorCode(answer.bytes) === 'UNKNOWN_SESSION') {
        this.forget(worker.id, session);
        continue;
      }
      // The host can forge a clear answer, never a sealed one: only failures (fail over) and refusals pass in clear.
      if (answer.status < 400) {
        await answer.stream?.cancel().catch(() => {});
        throw new HopAnswerError(`the worker answered ${answer.status} without sealing it`);
      }
      return answer;
    }
  }

  /** Forgets a worker's session (it deregistered). */
  drop(workerId: string): void {
    this.held.delete(workerId);
  }

  private session(worker: AdmittedWorker): Promise<SessionSender> {
    const t = this.now();
    const h = this.held.get(worker.id);
    if (!h || h.url !== worker.url) {
      const session = this.open(worker);
      const entry: Held = { at: t, url: worker.url, session, open: null, next: null };
      this.held.set(worker.id, entry);
      session.then(
        (s) => (entry.open = s),
        () => {
          if (this.held.get(worker.id) === entry) this.held.delete(worker.id);
        },
      );
      return session;
    }
    if (t - h.at >= this.rotateMs && !h.next) {
      const next = this.open(worker);
      h.next = next;
      next.then(
        (s) => {
          if (this.held.get(worker.id) === h) this.held.set(worker.id, { at: this.now(), url: h.url, session: next, open: s, next: null });
        },
        () => {
          h.next = null; // keep the current one; try again on a later request
        },
      );
    }
    return h.session;
  }

  /** Forgets `session` if it is still the worker's current one (synchronously: the resend must not reuse it). */
  private forget(workerId: string, session: SessionSender) {
    const h = this.held.get(workerId);
    if (h && h.open === session) this.held.delete(workerId);
  }

  private async open(worker: AdmittedWorker): Promise<SessionSender> {
    const recipient = selectRecipient(worker.verdict.binding.keys);
    const { session, message } = await SessionSender.open(recipient, utf8(canonicalJson({ worker: worker.id })));
    const signal = AbortSignal.timeout(this.openTimeoutMs);
    const answer = await this.post(
      worker.url + '/v1/sessions',
      { authorization: `Bearer ${worker.token}`, 'content-type': SESSION_OPEN_TYPE },
      message,
      signal,
      false,
    );
    if (answer.status !== 204) {
      await answer.stream?.cancel().catch(() => {});
      throw new HopOpenError(`worker ${worker.id} refused the session (${answer.status}${errorCode(answer.bytes) ? ` ${errorCode(answer.bytes)}` : ''})`);
    }
    return session;
  }
}

const dec = new TextDecoder();

const aads = new Map<string, Uint8Array>();

/** The request aad (docs/PROTOCOL.md §4), the same few per worker: kept rather than re-serialised per request. */
export function routeAad(endpoint: Endpoint, model: string, worker: string): Uint8Array {
  const k = `${endpoint}\n${model}\n${worker}`;
  let aad = aads.get(k);
  if (!aad) {
    if (aads.size >= 4096) aads.clear();
    aads.set(k, (aad = utf8(canonicalJson({ endpoint, model, worker }))));
  }
  return aad;
}

/** The `code` of an OpenAI error envelope, or null. */
function errorCode(bytes: Uint8Array | null): string | null {
  if (!bytes) return null;
  try {
    const code = (JSON.parse(dec.decode(bytes)) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

/** A worker's sealed answer that is cut, altered or reports a failure after its head. */
export class HopAnswerError extends Error {
  override readonly name = 'HopAnswerError';
}

interface Message {
  bytes: Uint8Array;
  final: boolean;
}

/** The head message's status and content type. */
function parseHead(m: Message): { status: number; contentType: string } {
  const h = (m.final ? null : JSON.parse(dec.decode(m.bytes))) as { status?: unknown; contentType?: unknown } | null;
  if (typeof h?.status !== 'number' || typeof h.contentType !== 'string') throw new HopAnswerError('sealed answer without a head');
  return { status: h.status, contentType: h.contentType };
}

/** A trailer that reports a failure after the head ({"error": …}). */
function trailerFailed(bytes: Uint8Array): boolean {
  try {
    return (JSON.parse(dec.decode(bytes)) as { error?: unknown }).error != null;
  } catch {
    return true;
  }
}

/** The messages of a sealed stream, one at a time; a stream cut before its final chunk throws. */
function messageReader(stream: ReadableStream<Uint8Array>, opener: ResponseOpener) {
  const reader = stream.getReader();
  const queue: Message[] = [];
  return {
    async next(): Promise<Message> {
      while (queue.length === 0) {
        const r = await reader.read();
        if (r.done) {
          opener.end(); // TRUNCATED
          throw new HopAnswerError('sealed answer ended without its final chunk');
        }
        const pts = opener.push(r.value);
        for (let i = 0; i < pts.length; i++) queue.push({ bytes: pts[i]!, final: opener.done && i === pts.length - 1 });
      }
      return queue.shift()!;
    },
    cancel: (reason?: unknown) => reader.cancel(reason).catch(() => {}),
  };
}

/**
 * The worker's sealed answer as the plain answer inside it. Whole answers are
 * opened at once; streams are opened as they arrive, and a stream cut before
 * its final chunk, altered, or closed by an error trailer errors (never a
 * clean end).
 */
async function openAnswer(answer: UpstreamAnswer, opener: ResponseOpener, whole: boolean): Promise<UpstreamAnswer> {
  if (answer.bytes) {
    const pts = opener.push(answer.bytes);
    opener.end(); // TRUNCATED without the final chunk
    const head = parseHead({ bytes: pts[0]!, final: pts.length < 2 });
    if (trailerFailed(pts[pts.length - 1]!)) throw new HopAnswerError('the worker failed after its head');
    return { status: head.status, contentType: head.contentType, bytes: pts.length === 3 ? pts[1]! : concatByteList(pts.slice(1, -1)), stream: null };
  }
  const messages = messageReader(answer.stream!, opener);
  let head: { status: number; contentType: string };
  try {
    head = parseHead(await messages.next());
  } catch (e) {
    await messages.cancel(e);
    throw e;
  }
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const m = await messages.next();
        if (!m.final) controller.enqueue(m.bytes);
        else if (trailerFailed(m.bytes)) controller.error(new HopAnswerError('the worker reported a failure after its head'));
        else controller.close();
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel(reason) {
      await messages.cancel(reason);
    },
  });
  if (!whole && head.status < 400) return { status: head.status, contentType: head.contentType, bytes: null, stream };
  return { status: head.status, contentType: head.contentType, bytes: new Uint8Array(await new Response(stream).arrayBuffer()), stream: null };
}
