import { ApiError, invalidRequest, isErrorEnvelope } from '../errors/index.ts';
import type { Endpoint } from '../registry/index.ts';
import type { ForwardDeps } from './index.ts';

import { SEALED_REQUEST_TYPE, SEALED_RESPONSE_TYPE } from '../../sdk/protocol/wire.ts';

export interface SealedForwardRequest {
  endpoint: Endpoint;
  model: string;
  workerId: string;
  body: Uint8Array;
  requestId: string;
  signal: AbortSignal;
  headers: Record<string, string>;
  /** Who the worker signs the receipt to (`x-sealgate-account`). */
  account: string;
}

const workerUnavailable = (message: string) => new ApiError(503, 'server_error', 'worker_unavailable', message, null, 1);

/**
 * Carries a sealed request to the one worker it is sealed to and its sealed
 * response back, byte for byte: nothing here parses either. Only the client
 * can seal to another worker, so failures before the first byte are answered
 * with a retryable 502/503 for the client to try its next verified worker.
 */
export async function forwardSealed(
  deps: ForwardDeps,
  req: SealedForwardRequest,
  onEnd: (r: { status: number; outcome: 'complete' | 'broken' | 'cancelled' }) => void,
): Promise<Response> {
  const w = deps.registry.get(req.workerId);
  if (!w || !deps.registry.isRoutable(w)) throw workerUnavailable(`Worker ${req.workerId} is not admitted right now.`);
  if (!w.models.get(req.model)?.has(req.endpoint)) {
    throw invalidRequest(`Worker ${req.workerId} does not serve \`${req.model}\` on ${req.endpoint}.`, 'model', 'unsupported_endpoint');
  }
  if (!deps.router.available(w.id)) throw workerUnavailable(`Worker ${req.workerId} is failing; try another.`);
  const lease = deps.router.acquire(w.id);
  const started = performance.now();
  const attempt = new AbortController();
  const onClientAbort = () => attempt.abort(req.signal.reason);
  req.signal.addEventListener('abort', onClientAbort, { once: true });
  const timer = setTimeout(() => attempt.abort(new DOMException('first byte timeout', 'TimeoutError')), deps.firstByteTimeoutMs);
  let res: Response;
  try {
    res = await deps.fetch(w.url + '/v1/sealed', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${w.token}`,
        'content-type': SEALED_REQUEST_TYPE,
        'x-request-id': req.requestId,
        'x-sealgate-endpoint': req.endpoint,
        'x-sealgate-model': req.model,
        'x-sealgate-worker': req.workerId,
        'x-sealgate-account': req.account,
      },
      body: req.body as Uint8Array<ArrayBuffer>,
      signal: attempt.signal,
    });
  } catch {
    clearTimeout(timer);
    req.signal.removeEventListener('abort', onClientAbort);
    lease.done({ ok: false });
    throw new ApiError(502, 'server_error', 'worker_failed', `Worker ${req.workerId} failed before answering.`, null, 1);
  }
  const headers = { ...req.headers, 'x-sealgate-worker': w.id };
  if (res.status >= 500 || res.status === 429 || !res.body) {
    clearTimeout(timer);
    await res.body?.cancel().catch(() => {});
    lease.done({ ok: false });
    throw new ApiError(502, 'server_error', 'worker_failed', `Worker ${req.workerId} answered ${res.status}.`, null, 1);
  }
  if (res.status !== 200) {
    clearTimeout(timer);
    // The worker refused in clear (cannot open, replay, model mismatch): no content in these.
    const text = await res.text();
    lease.done({ ok: true, latencyMs: performance.now() - started });
    let env: unknown = null;
    try {
      env = JSON.parse(text);
    } catch {
      env = null;
    }
    onEnd({ status: res.status, outcome: 'complete' });
    return Response.json(
      isErrorEnvelope(env) ? env : { error: { message: `Worker refused the sealed request (${res.status}).`, type: 'invalid_request_error', param: null, code: null } },
      { status: res.status, headers: { ...headers, 'x-should-retry': 'false' } },
    );
  }
  // The first sealed bytes are read before answering (still under the first-byte timeout), as on the
  // plain path: a worker that dies before its first byte is a retryable 502, and the first chunk is
  // ready the moment the client's connection asks for it.
  const reader = res.body.getReader();
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch {
    first = { done: true, value: undefined };
  }
  clearTimeout(timer);
  if (first.done) {
    req.signal.removeEventListener('abort', onClientAbort);
    await reader.cancel().catch(() => {});
    lease.done({ ok: false });
    throw new ApiError(502, 'server_error', 'worker_failed', `Worker ${req.workerId} closed its sealed response before the first byte.`, null, 1);
  }
  const latencyMs = performance.now() - started;
  let pending: Uint8Array | null = first.value;
  let ended = false;
  const end = (outcome: 'complete' | 'broken' | 'cancelled') => {
    if (ended) return;
    ended = true;
    req.signal.removeEventListener('abort', onClientAbort);
    lease.done({ ok: outcome !== 'broken', latencyMs });
    onEnd({ status: outcome === 'broken' ? 502 : 200, outcome });
  };
  return new Response(
    new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (pending) {
          controller.enqueue(pending);
          pending = null;
          return;
        }
        try {
          const r = await reader.read();
          if (r.done) {
            end('complete');
            controller.close();
          } else controller.enqueue(r.value);
        } catch (e) {
          // The client's opener sees no final chunk and raises TRUNCATED.
          end('broken');
          controller.error(e);
        }
      },
      async cancel() {
        end('cancelled');
        await reader.cancel().catch(() => {});
      },
    }),
    { status: 200, headers: { ...headers, 'content-type': SEALED_RESPONSE_TYPE, 'cache-control': 'no-cache' } },
  );
}
