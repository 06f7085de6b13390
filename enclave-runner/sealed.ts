import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../attestation/util/bytes.ts';
import { guardSse, type Usage } from '../gateway/forward/sse.ts';
import { Endpoint } from '../gateway/registry/index.ts';
import { ChatCompletionRequest, CompletionRequest, EmbeddingRequest, issueParam } from '../gateway/schemas/openai.ts';
import { isSealError, openRequest, SESSION_REQUEST_TYPE, signReceipt, type Price, type Receipt, type ReplayGuard, type SessionReceiver } from '../sdk/protocol/index.ts';
import { SEALED_RESPONSE_TYPE } from '../sdk/protocol/wire.ts';
import { bufferedResponse, responseBytes } from '../gateway/forward/body.ts';
import { routeAad } from '../gateway/forward/hop.ts';
import { errorResponse, type Backend } from './backends/types.ts';
import type { WorkerKeys } from './keys.ts';
import type { RequestLike } from './worker.ts';

const SCHEMAS = {
  'chat.completions': ChatCompletionRequest,
  completions: CompletionRequest,
  embeddings: EmbeddingRequest,
} as const;

export interface SealedContext {
  workerId: string;
  keys: WorkerKeys;
  backend: Backend;
  replay: ReplayGuard;
  /** The gateway's sessions (its plain path's hop, docs/PROTOCOL.md §14). */
  sessions: SessionReceiver;
  /** This worker's price for a model (signed into the receipt). */
  priceOf(model: string): Price;
  /** Called once the final chunk is sent, with the signed receipt (for the gateway). */
  onReceipt(receipt: Receipt): void;
  /**
   * Called once a hop request's answer is complete: a plain-mode request, so
   * its receipt is queued as plain receipts are (unsigned, digests over the
   * plain request and response bytes).
   */
  onPlainReceipt(r: { endpoint: Endpoint; model: string; usage: () => Usage | null; request: Uint8Array; responseHash: ReturnType<typeof sha256.create> }): void;
}

const json = (x: unknown) => utf8(JSON.stringify(x));
const EMPTY_TRAILER = utf8('{}');

/**
 * Serves one sealed request (docs/PROTOCOL.md §12): opens it with the aad
 * computed from the clear headers and this worker's own id, refuses replays
 * and model mismatches, runs the backend, and answers with a sealed stream of
 * head, body chunks and a trailer carrying the signed receipt. A request
 * sealed under a gateway session (§14, the plain path's hop) is served the
 * same way, but its receipt is a plain one and its trailer `{}`.
 */
export async function serveSealed(req: RequestLike, ctx: SealedContext, release: () => void): Promise<Response> {
  let released = false;
  const done = () => {
    if (!released) {
      released = true;
      release();
    }
  };
  try {
    return await handle(req, ctx, done);
  } catch (e) {
    done();
    throw e;
  }
}

async function handle(req: RequestLike, ctx: SealedContext, done: () => void): Promise<Response> {
  const endpoint = Endpoint.safeParse(req.headers.get('x-sealgate-endpoint'));
  const model = req.headers.get('x-sealgate-model');
  if (!endpoint.success || !model) {
    done();
    return errorResponse(400, 'x-sealgate-endpoint and x-sealgate-model are required.', null, 'PROTOCOL_ERROR');
  }
  const message = new Uint8Array(await req.arrayBuffer());
  const aad = routeAad(endpoint.data, model, ctx.workerId);
  const hop = req.headers.get('content-type')?.startsWith(SESSION_REQUEST_TYPE) === true;
  let opened: Awaited<ReturnType<typeof openRequest>>;
  try {
    // A session's replay window stands in for the replay guard.
    opened = hop ? ctx.sessions.open(message, aad) : await openRequest({ keys: ctx.keys.hpke, message, aad, replayGuard: ctx.replay });
  } catch (e) {
    done();
    if (isSealError(e)) return errorResponse(400, `Sealed request refused: ${e.code}.`, null, e.code);
    throw e;
  }
  const { sealer } = opened;
  // Hashed when the receipt is signed, after the last token: nothing but the open runs before the backend starts.
  let requestDigest: string | null = null;
  const responseHash = sha256.create();
  let status = 0;
  /** Sealed requests digest the sealed frames; hop requests the plain body, as the plain path does. */
  const emit = (plaintext: Uint8Array, final: boolean): Uint8Array => {
    const frame = sealer.seal(plaintext, { final });
    if (!final) responseHash.update(hop ? plaintext : frame);
    return frame;
  };
  const emitHead = (s: number, contentType: string): Uint8Array => {
    status = s;
    const head = json({ status: s, contentType });
    if (!hop) return emit(head, false);
    return sealer.seal(head, { final: false });
  };
  /**
   * The trailer: the signed receipt (Web Crypto Ed25519 where available, so
   * async), or the error; for a hop request `{}`, its receipt queued as a plain one.
   */
  const finish = async (usage: Usage | null | (() => Usage | null), error: unknown | null): Promise<Uint8Array> => {
    if (error) return emit(json({ error }), true);
    if (hop) {
      if (status === 200) {
        const read = typeof usage === 'function' ? usage : () => usage as Usage | null;
        ctx.onPlainReceipt({ endpoint: endpoint.data, model, usage: read, request: opened.body, responseHash });
      }
      return emit(EMPTY_TRAILER, true);
    }
    if (typeof usage === 'function') usage = usage();
    const receipt = await signReceipt(
      {
        v: 1,
        requestId: req.headers.get('x-request-id') ?? 'unknown',
        workerId: ctx.workerId,
        model,
        endpoint: endpoint.data,
        promptTokens: usage?.prompt_tokens ?? 0,
        completionTokens: usage?.completion_tokens ?? 0,
        requestDigest: (requestDigest ??= toHex(sha256(message))),
        responseDigest: toHex(responseHash.digest()),
        time: Date.now(),
        account: req.headers.get('x-sealgate-account') ?? '',
        price: ctx.priceOf(model),
      },
      ctx.keys.receipt.secretKey,
    );
    const frame = emit(json({ receipt }), true);
    ctx.onReceipt(receipt);
    return frame;
  };
  const sealedError = async (status: number, message: string, param: string | null, code: string | null) => {
    const head = emitHead(status, 'application/json');
    const body = emit(json({ error: { message, type: 'invalid_request_error', param, code } }), false);
    done();
    return sealedResponse([head, body, await finish(null, null)]);
  };

  let body: Record<string, unknown>;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(opened.body));
  } catch {
    return sealedError(400, 'Sealed body is not valid JSON.', null, 'invalid_json');
  }
  const parsed = SCHEMAS[endpoint.data].safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return sealedError(400, `Invalid request: ${issue.message}`, issueParam(issue.path), 'invalid_value');
  }
  if (parsed.data.model !== model) {
    done();
    return errorResponse(400, 'The sealed model differs from the routed model.', 'model', 'MODEL_MISMATCH');
  }
  const request = parsed.data as Record<string, unknown> & { stream?: boolean | null; stream_options?: { include_usage?: boolean } | null };
  const stream = request.stream === true;
  const wantsUsage = request.stream_options?.include_usage === true;
  if (stream) request.stream_options = { ...request.stream_options, include_usage: true };

  let res: Response;
  try {
    res = await ctx.backend.handle(endpoint.data, request, req.signal);
  } catch {
    done();
    return sealedResponse([emitHead(502, 'application/json'), await finish(null, { message: 'The backend failed.', type: 'server_error', param: null, code: 'backend_error' })]);
  }
  const contentType = res.headers.get('content-type') ?? 'application/json';
  const head = emitHead(res.status, contentType);

  // Content type first: reading `res.body` of a buffered answer would build a stream for nothing.
  if (!contentType.includes('text/event-stream') || !res.body) {
    let bytes: Uint8Array;
    try {
      bytes = await responseBytes(res);
    } catch {
      done();
      return sealedResponse([head, await finish(null, { message: 'The backend failed while answering.', type: 'server_error', param: null, code: 'backend_error' })]);
    }
    // A hop request's usage is read with its receipt, off the answer's critical path.
    const frames = [head, ...(bytes.length ? [emit(bytes, false)] : []), await finish(hop ? () => usageOf(bytes) : usageOf(bytes), null)];
    done();
    return sealedResponse(frames);
  }

  // Streamed: seal each SSE event batch as it comes; the trailer follows the stream's end.
  const reader = res.body.getReader();
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch {
    first = { done: true, value: undefined };
  }
  let usage: Usage | null = null;
  let outcome: 'complete' | 'broken' | 'cancelled' | null = null;
  const events = first.done
    ? null
    : guardSse(reader, first.value, {
        dropUsageChunk: !wantsUsage,
        onUsage: (u) => (usage = u),
        onEnd: (o) => (outcome = o),
      }).getReader();
  let headSent = false;
  return new Response(
    new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!headSent) {
          headSent = true;
          // The head and the first event leave in one write (the first event is already read).
          const r = events ? await events.read() : null;
          controller.enqueue(r && !r.done ? concatFrames([head, emit(r.value, false)]) : head);
          return; // a stream already over is finished by the next pull (read() stays done)
        }
        if (!events) {
          controller.enqueue(await finish(null, { message: 'The backend closed the stream before its first byte.', type: 'server_error', param: null, code: 'backend_error' }));
          done();
          controller.close();
          return;
        }
        const r = await events.read();
        if (!r.done) {
          controller.enqueue(emit(r.value, false));
          return;
        }
        const broken = outcome !== 'complete';
        controller.enqueue(
          await finish(usage, broken ? { message: 'The backend stream failed before completion.', type: 'server_error', param: null, code: 'backend_stream_broken' } : null),
        );
        done();
        controller.close();
      },
      async cancel() {
        done();
        await events?.cancel().catch(() => {});
      },
    }),
    { status: 200, headers: { 'content-type': SEALED_RESPONSE_TYPE, 'cache-control': 'no-cache' } },
  );
}

function concatFrames(frames: Uint8Array[]): Uint8Array {
  const total = frames.reduce((n, f) => n + f.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const f of frames) {
    out.set(f, o);
    o += f.length;
  }
  return out;
}

function sealedResponse(frames: Uint8Array[]): Response {
  return bufferedResponse(concatFrames(frames), { status: 200, headers: { 'content-type': SEALED_RESPONSE_TYPE } });
}

/** The `usage` of a whole JSON answer, if it has one. */
function usageOf(bytes: Uint8Array): Usage | null {
  try {
    return (JSON.parse(new TextDecoder().decode(bytes)) as { usage?: Usage }).usage ?? null;
  } catch {
    return null;
  }
}
