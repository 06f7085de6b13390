import { ApiError, invalidRequest, isErrorEnvelope, modelNotFound, noWorker, overPriceCap } from '../errors/index.ts';
import type { AdmittedWorker, Endpoint, WorkerRegistry } from '../registry/index.ts';
import type { Router } from '../routing/index.ts';
import { postViaFetch, type PlainReply, type UpstreamAnswer, type UpstreamPost } from './body.ts';
import type { HopSessions } from './hop.ts';
import { guardSse, type StreamOutcome, type Usage } from './sse.ts';

export { sseErrorEvent, guardSse, type Usage, type StreamOutcome } from './sse.ts';
export type { PlainReply, UpstreamAnswer, UpstreamPost } from './body.ts';

/**
 * The fetch used to reach workers. The Node adapter's also carries `post`,
 * which answers the plain path without Response objects.
 */
export type UpstreamFetch = ((url: string, init: RequestInit) => Promise<Response>) & { post?: UpstreamPost };

export interface ForwardDeps {
  registry: WorkerRegistry;
  router: Router;
  fetch: UpstreamFetch;
  /** Workers tried per request before giving up. */
  maxAttempts: number;
  /** Time allowed until the worker's first response byte, ms. */
  firstByteTimeoutMs: number;
  /** The sealed gateway → worker hop every plain request goes through. */
  hops: HopSessions;
}

export interface ForwardRequest {
  endpoint: Endpoint;
  model: string;
  /** The request as the worker gets it (JSON). */
  body: string | Uint8Array;
  stream: boolean;
  /** For streams: drop the usage-only chunk the client did not ask for. */
  dropUsageChunk: boolean;
  requestId: string;
  signal: AbortSignal;
  /** Response headers to add (mode, request id). */
  headers: Record<string, string>;
  /** Who the worker signs the receipt to (`x-sealgate-account`). */
  account: string;
  /** Only workers this accepts are tried (the client's price cap). */
  accept?: (w: AdmittedWorker) => boolean;
}

/** Called once per request when its outcome is known. */
export type Completion = (r: { workerId: string | null; status: number; usage: Usage | null; outcome: StreamOutcome }) => void;

const posts = new WeakMap<UpstreamFetch, UpstreamPost>();

/** The POST function for `fetch`: its own `post` when it has one, else one over it. */
export function postFor(fetcher: UpstreamFetch): UpstreamPost {
  if (fetcher.post) return fetcher.post;
  let p = posts.get(fetcher);
  if (!p) posts.set(fetcher, (p = postViaFetch(fetcher)));
  return p;
}

const dec = new TextDecoder();

/**
 * Sends a request to the best worker for its model, sealed under the
 * gateway's session with it (the hop, docs/PROTOCOL.md §14; never in clear),
 * failing over to the next one when a worker fails before its first response
 * byte (a session it refuses to open included). Non-streamed
 * responses are read whole before anything reaches the client, so any failure
 * there fails over too; streamed ones are guarded by `guardSse`.
 */
export async function forwardPlain(deps: ForwardDeps, req: ForwardRequest, complete: Completion): Promise<PlainReply> {
  const candidates = deps.registry.candidates(req.model, req.endpoint, req.accept);
  if (candidates.length === 0) {
    if (req.accept && deps.registry.candidates(req.model, req.endpoint).length > 0) throw overPriceCap(req.model);
    if (deps.registry.routable().length === 0) throw noWorker(req.model);
    if (!deps.registry.models().has(req.model)) throw modelNotFound(req.model);
    throw invalidRequest(
      `The model \`${req.model}\` does not support ${req.endpoint} on any admitted worker.`,
      'model',
      'unsupported_endpoint',
    );
  }
  const ordered = deps.router.order(candidates).slice(0, deps.maxAttempts);
  if (ordered.length === 0) throw noWorker(req.model);
  let lastFailure = 'no worker answered';
  for (const worker of ordered) {
    if (req.signal.aborted) break;
    const lease = deps.router.acquire(worker.id);
    const started = performance.now();
    // One controller per attempt: aborted by the client going away or by the first-byte timeout.
    const attempt = new AbortController();
    const onClientAbort = () => attempt.abort(req.signal.reason);
    req.signal.addEventListener('abort', onClientAbort, { once: true });
    const timer = setTimeout(() => attempt.abort(new DOMException('first byte timeout', 'TimeoutError')), deps.firstByteTimeoutMs);
    const settle = () => clearTimeout(timer);
    try {
      const res: UpstreamAnswer = await deps.hops.send(worker, {
        endpoint: req.endpoint,
        model: req.model,
        body: req.body,
        headers: {
          authorization: `Bearer ${worker.token}`,
          'x-request-id': req.requestId,
          'x-sealgate-account': req.account,
        },
        signal: attempt.signal,
        whole: !req.stream,
      });
      if (res.status >= 500 || res.status === 429) {
        settle();
        await res.stream?.cancel().catch(() => {});
        lease.done({ ok: false });
        lastFailure = `worker answered ${res.status}`;
        continue;
      }
      const ok = res.status >= 200 && res.status < 300;
      const headers = { ...req.headers, 'x-sealgate-worker': worker.id };
      if (!ok || !req.stream) {
        const text = dec.decode(res.bytes ?? (await readAll(res.stream!)));
        settle();
        req.signal.removeEventListener('abort', onClientAbort);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          lease.done({ ok: false });
          lastFailure = 'worker answered with a body that is not JSON';
          continue;
        }
        lease.done({ ok: true, latencyMs: performance.now() - started });
        if (!ok) {
          const envelope = isErrorEnvelope(parsed)
            ? parsed
            : { error: { message: `worker refused the request (${res.status})`, type: 'invalid_request_error', param: null, code: null } };
          complete({ workerId: worker.id, status: res.status, usage: null, outcome: 'complete' });
          return {
            status: res.status,
            headers: { ...headers, 'content-type': 'application/json', 'x-should-retry': 'false' },
            body: JSON.stringify(envelope),
          };
        }
        const usage = (parsed as { usage?: Usage | null }).usage ?? null;
        complete({ workerId: worker.id, status: 200, usage, outcome: 'complete' });
        return { status: 200, headers: { ...headers, 'content-type': 'application/json' }, body: text };
      }
      const reader = (res.stream ?? single(res.bytes!)).getReader();
      const first = await reader.read();
      settle();
      if (first.done || first.value.length === 0) {
        lease.done({ ok: false });
        lastFailure = 'worker closed the stream before its first byte';
        continue;
      }
      const latencyMs = performance.now() - started;
      let usage: Usage | null = null;
      const body = guardSse(reader, first.value, {
        dropUsageChunk: req.dropUsageChunk,
        onUsage: (u) => {
          usage = u;
        },
        onEnd: (outcome) => {
          lease.done({ ok: outcome !== 'broken', latencyMs });
          complete({ workerId: worker.id, status: 200, usage, outcome });
        },
      });
      return {
        status: 200,
        headers: {
          ...headers,
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
        },
        body,
      };
    } catch (e) {
      settle();
      req.signal.removeEventListener('abort', onClientAbort);
      lease.done({ ok: false });
      if (req.signal.aborted) throw e;
      lastFailure = e instanceof Error ? e.name : 'request failed';
    }
  }
  throw new ApiError(
    503,
    'server_error',
    'worker_unavailable',
    `Every worker tried for \`${req.model}\` failed before answering (${lastFailure}).`,
    null,
    2,
  );
}

/** A stream of one chunk. */
export function single(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      if (bytes.length) c.enqueue(bytes);
      c.close();
    },
  });
}

/** Reads a stream to its end. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
