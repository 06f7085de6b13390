import { ApiError, invalidRequest, isErrorEnvelope } from '../errors/index.ts';
import type { Endpoint } from '../registry/index.ts';
import { postFor, readAll, single, type ForwardDeps } from './index.ts';
import type { PlainReply, UpstreamAnswer } from './body.ts';

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

const dec = new TextDecoder();

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
): Promise<PlainReply> {
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
  /** Gives up before the first sealed byte: retryable, the client seals to its next worker. */
  const failed = (why: string) => {
    clearTimeout(timer);
    req.signal.removeEventListener('abort', onClientAbort);
    lease.done({ ok: false });
    return new ApiError(502, 'server_error', 'worker_failed', `Worker ${req.workerId} ${why}.`, null, 1);
  };
  let res: UpstreamAnswer;
  try {
    // A 5xx or 429 comes back at once without its body (failFast).
    res = await postFor(deps.fetch)(
      w.url + '/v1/sealed',
      {
        authorization: `Bearer ${w.token}`,
        'content-type': SEALED_REQUEST_TYPE,
        'x-request-id': req.requestId,
        'x-sealgate-endpoint': req.endpoint,
        'x-sealgate-model': req.model,
        'x-sealgate-worker': req.workerId,
        'x-sealgate-account': req.account,
      },
      req.body,
      attempt.signal,
    );
  } catch {
    throw failed('failed before answering');
  }
  if (res.status >= 500 || res.status === 429) throw failed(`answered ${res.status}`);
  const headers = { ...req.headers, 'x-sealgate-worker': w.id };
  if (res.status !== 200) {
    // The worker refused in clear (cannot open, replay, model mismatch): no content in these.
    let env: unknown = null;
    try {
      env = JSON.parse(dec.decode(res.bytes ?? (await readAll(res.stream!))));
    } catch {
      env = null;
    }
    clearTimeout(timer);
    req.signal.removeEventListener('abort', onClientAbort);
    lease.done({ ok: true, latencyMs: performance.now() - started });
    onEnd({ status: res.status, outcome: 'complete' });
    return {
      status: res.status,
      headers: { ...headers, 'content-type': 'application/json', 'x-should-retry': 'false' },
      body: JSON.stringify(
        isErrorEnvelope(env) ? env : { error: { message: `Worker refused the sealed request (${res.status}).`, type: 'invalid_request_error', param: null, code: null } },
      ),
    };
  }
  // The first sealed bytes are read before answering (still under the first-byte timeout), as on the
  // plain path: a worker that dies before its first byte is a retryable 502, and the first chunk is
  // ready the moment the client's connection asks for it.
  const reader = (res.stream ?? single(res.bytes!)).getReader();
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch {
    first = { done: true, value: undefined };
  }
  clearTimeout(timer);
  if (first.done) {
    await reader.cancel().catch(() => {});
    throw failed('closed its sealed response before the first byte');
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
  return {
    status: 200,
    headers: { ...headers, 'content-type': SEALED_RESPONSE_TYPE, 'cache-control': 'no-cache' },
    body: new ReadableStream<Uint8Array>({
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
  };
}
