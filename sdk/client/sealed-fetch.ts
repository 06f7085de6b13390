/**
 * `sealedFetch`: a fetch for the official `openai` client that seals every
 * completion, chat completion and embedding request end to end to a worker
 * enclave whose evidence the client verified itself (PROTOCOL.md §12).
 *
 * Web standards only (fetch, streams, Web Crypto via `attestation/`, pure-JS
 * crypto via `sdk/protocol`): runs on Node, in browsers and on Cloudflare Workers.
 *
 * @example
 * const openai = new OpenAI({ baseURL: 'https://gw.example/v1', apiKey, fetch: sealedFetch({ policy }) });
 */
import { canonicalJson, type BundleVerifier, type Policy, type PolicyInput } from '../../attestation/index.ts';
import { utf8 } from '../../attestation/util/bytes.ts';
import {
  SealError,
  digestHex,
  isSealError,
  sealRequest,
  verifyReceipt,
  accountForApiKey,
  priceWithin,
  type AeadName,
  type KemName,
  type Receipt,
} from '../protocol/index.ts';
import { SenderPool } from '../protocol/sender-pool.ts';
import { SealedFetchError, type AttemptRecord, type WorkerRejection } from './errors.ts';
import { SealedMessageReader, SseGate, parseHead, parseJsonMessage, sseErrorEvent, type SealedHead } from './sealed-response.ts';
import { WorkerVerifier, type VerifiedWorker, type VerifyWorkersResult, type WorkerListing } from './verify-workers.ts';

import { SEALED_REQUEST_TYPE, SEALED_RESPONSE_TYPE } from '../protocol/wire.ts';

export { SEALED_REQUEST_TYPE, SEALED_RESPONSE_TYPE };

export type SealedEndpoint = 'chat.completions' | 'completions' | 'embeddings';

/** What `onReceipt` is told besides the verified receipt. */
export interface ReceiptInfo {
  workerId: string;
  model: string;
  endpoint: SealedEndpoint;
  /** The gateway's `x-request-id` for the attempt that answered. */
  requestId: string | null;
  /** Every attempt, the answering one last. */
  attempts: AttemptRecord[];
}

export interface SealedFetchOptions {
  /** The client's own attestation policy; the gateway's verdicts are never used. */
  policy: Policy | PolicyInput;
  /** Gateway base URL; default: the origin of each request's URL. */
  gateway?: string;
  /** The fetch to send with (default: the global fetch, looked up at call time). */
  fetch?: typeof fetch;
  /** Clock for evidence checks, unix seconds. */
  now?: () => number;
  /** Workers tried per request before giving up (default 3). */
  maxAttempts?: number;
  /** How long a fetched worker list is reused, ms (default 30 000). */
  workersTtlMs?: number;
  /** Called with each verified receipt before the response body ends. */
  onReceipt?: (receipt: Receipt, info: ReceiptInfo) => void;
  /**
   * Highest price accepted, nanoton per token: sent as `x-sealgate-max-price`,
   * and a receipt charging more is refused.
   */
  maxPrice?: { prompt: bigint | number | string; completion: bigint | number | string };
  /** KEMs the client accepts (default both; X-Wing preferred when offered). */
  allowKems?: readonly KemName[];
  /** Request AEAD (default ChaCha20-Poly1305). */
  aead?: AeadName;
  /** Bundle verifier (default: every evidence kind, collateral from the bundle). */
  verify?: BundleVerifier;
  /** Share a verifier (and its verdict cache) between several fetches. */
  verifier?: WorkerVerifier;
  /** How to order verified workers: `random` (default) spreads load, `first` keeps the gateway's order. */
  select?: 'random' | 'first';
  /** Called after each attempt (diagnostics and tests). */
  onAttempt?: (attempt: AttemptRecord) => void;
  /**
   * Encapsulations prepared ahead per verified worker key, each used once
   * (default: a pool of 2 per key, refilled once each request's first bytes are out); `false`
   * seals every request from scratch.
   */
  senderPool?: SenderPool | false;
}

/** A sealed fetch plus its parts, for callers (the proxy, tests) that need more than `fetch`. */
export interface SealedClient {
  fetch: typeof fetch;
  verifier: WorkerVerifier;
  /** The gateway's workers, verified for `model` (cached list). */
  workers(gateway: string, model?: string, authorization?: string | null): Promise<VerifyWorkersResult>;
  /** Forget the cached worker lists (verdicts stay cached by bundle digest). */
  invalidate(): void;
  /** The prepared-encapsulation pool, if any. */
  pool: SenderPool | null;
}

const ENDPOINTS: ReadonlyArray<[RegExp, SealedEndpoint]> = [
  [/\/chat\/completions\/?$/, 'chat.completions'],
  [/\/completions\/?$/, 'completions'],
  [/\/embeddings\/?$/, 'embeddings'],
];

/** Codes a worker answers in clear when it cannot open what it received (misrouted or altered in transit). */
const UNOPENABLE = new Set(['OPEN_FAILED', 'KEY_MISMATCH', 'UNSUPPORTED_SUITE', 'MALFORMED_MESSAGE', 'KEM_FAILED', 'REPLAY']);
const NULL_BODY = new Set([204, 205, 304]);

export function endpointOf(pathname: string): SealedEndpoint | null {
  for (const [re, ep] of ENDPOINTS) if (re.test(pathname)) return ep;
  return null;
}

/** The caller-facing fetch; see `createSealedClient` for the options. */
export function sealedFetch(options: SealedFetchOptions): typeof fetch {
  return createSealedClient(options).fetch;
}

/**
 * Builds a sealed client. Requests other than POST …/chat/completions,
 * …/completions and …/embeddings go to the base fetch unchanged.
 */
export function createSealedClient(options: SealedFetchOptions): SealedClient {
  const base: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const verifier =
    options.verifier ??
    new WorkerVerifier({
      policy: options.policy,
      ...(options.verify ? { verify: options.verify } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.allowKems ? { allowKems: options.allowKems } : {}),
    });
  const pool = options.senderPool === false ? null : (options.senderPool ?? new SenderPool());
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const cap = options.maxPrice ? { prompt: BigInt(options.maxPrice.prompt), completion: BigInt(options.maxPrice.completion) } : null;
  const ttl = options.workersTtlMs ?? 30_000;
  const lists = new Map<string, { at: number; p: Promise<WorkerListing[]> }>();

  const listWorkers = (gw: string, authorization: string | null): Promise<WorkerListing[]> => {
    const cached = lists.get(gw);
    if (cached && Date.now() - cached.at < ttl) return cached.p;
    const p = (async () => {
      let res: Response;
      try {
        res = await base(`${gw}/v1/workers`, {
          method: 'GET',
          headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
        });
      } catch (e) {
        throw new SealedFetchError('WORKERS_UNAVAILABLE', `cannot list the gateway's workers: ${e instanceof Error ? e.message : e}`, { cause: e });
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        throw new SealedFetchError('WORKERS_UNAVAILABLE', `GET /v1/workers answered ${res.status}`);
      }
      const json = (await res.json().catch(() => null)) as { data?: unknown } | null;
      if (!json || !Array.isArray(json.data)) throw new SealedFetchError('WORKERS_UNAVAILABLE', 'GET /v1/workers did not answer a worker list');
      return json.data as WorkerListing[];
    })();
    lists.set(gw, { at: Date.now(), p });
    p.catch(() => {
      if (lists.get(gw)?.p === p) lists.delete(gw);
    });
    return p;
  };

  const workers = async (gw: string, model?: string, authorization: string | null = null) =>
    verifier.verifyWorkers(await listWorkers(trimSlash(gw), authorization), model !== undefined ? { model } : {});

  const sealedFetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : null;
    const url = new URL(req ? req.url : String(input));
    const method = (init?.method ?? req?.method ?? 'GET').toUpperCase();
    const endpoint = method === 'POST' ? endpointOf(url.pathname) : null;
    if (!endpoint) return base(input, init);
    // Evidence checks need Web Crypto; without it every worker would look unverifiable, which misleads.
    if (!globalThis.crypto?.subtle) {
      throw new SealedFetchError('INSECURE_CONTEXT', 'Web Crypto (crypto.subtle) is not available here: serve the page over https:// (or from localhost); nothing was sent');
    }

    const headers = new Headers(req?.headers);
    new Headers(init?.headers).forEach((v, k) => headers.set(k, v));
    const signal = init?.signal ?? req?.signal ?? undefined;
    const bodyText = await readBody(req, init);
    let model: unknown;
    try {
      model = (JSON.parse(bodyText) as { model?: unknown } | null)?.model;
    } catch {
      return localError(400, 'invalid_request_error', 'invalid_value', 'Request body is not valid JSON.', null);
    }
    if (typeof model !== 'string' || model.length === 0) {
      return localError(400, 'invalid_request_error', 'invalid_value', 'Request body needs a string `model`.', 'model');
    }

    const gw = trimSlash(options.gateway ?? url.origin);
    const authorization = headers.get('authorization');
    const listing = await listWorkers(gw, authorization);
    if (!listing.some((w) => Array.isArray(w?.models) && w.models.includes(model as string))) {
      return localError(404, 'invalid_request_error', 'model_not_found', `The model \`${model}\` does not exist or no admitted worker serves it right now.`, 'model');
    }
    const { verified, rejected } = await verifier.verifyWorkers(listing, { model });
    if (verified.length === 0) {
      throw new SealedFetchError(
        'NO_VERIFIED_WORKER',
        `no worker serving ${model} passed verification against the client policy (${summarize(rejected)}); nothing was sent`,
        { workers: rejected },
      );
    }
    const order = options.select === 'first' ? verified : shuffle(verified);
    const tries = Math.min(maxAttempts, order.length);
    const body = utf8(bodyText);
    const attempts: AttemptRecord[] = [];
    const record = (a: AttemptRecord) => {
      attempts.push(a);
      options.onAttempt?.(a);
    };
    let lastServerError: { status: number; headers: Headers; text: string } | null = null;
    let unopenable = 0;

    for (let i = 0; i < tries; i++) {
      const w = order[i]!;
      const last = i === tries - 1;
      const aad = utf8(canonicalJson({ endpoint, model, worker: w.id }));
      // A ready encapsulation for this verified key when the pool has one (each used once), else sealed
      // inline. Its replacement is made once this attempt is over or its response's first bytes are
      // out (`refill`), not while the worker opens it: on a busy machine that would delay the first token.
      const prepared = pool?.take(w.recipient, options.aead) ?? null;
      let refilled = false;
      const refill = () => {
        if (!refilled) {
          refilled = true;
          pool?.warm(w.recipient, options.aead);
        }
      };
      let handedOff = false;
      try {
        const { message, opener } = await sealRequest({
          recipient: w.recipient,
          ...(options.aead ? { aead: options.aead } : {}),
          ...(prepared ? { prepared } : {}),
          body,
          aad,
        });
        const out: Record<string, string> = {
          'content-type': SEALED_REQUEST_TYPE,
          accept: SEALED_RESPONSE_TYPE,
          'x-sealgate-worker': w.id,
          'x-sealgate-model': model,
          'x-sealgate-endpoint': endpoint,
        };
        if (authorization) out.authorization = authorization;
        if (cap) out['x-sealgate-max-price'] = `${cap.prompt},${cap.completion}`;
        let res: Response;
        try {
          res = await base(`${gw}/v1/sealed`, { method: 'POST', headers: out, body: message as BodyInit, ...(signal ? { signal } : {}) });
        } catch (e) {
          if (signal?.aborted) throw e;
          record({ workerId: w.id, outcome: 'network' });
          continue;
        }

        if (res.status === 200) {
          const ct = res.headers.get('content-type') ?? '';
          if (!ct.toLowerCase().startsWith(SEALED_RESPONSE_TYPE) || !res.body) {
            await res.body?.cancel().catch(() => {});
            record({ workerId: w.id, outcome: '200', code: 'PROTOCOL_ERROR' });
            throw new SealedFetchError('PROTOCOL_ERROR', `the gateway answered a sealed request with ${ct || 'no content type'}, not a sealed response`, { attempts });
          }
          const reader = new SealedMessageReader(res.body, opener);
          let head: SealedHead;
          try {
            head = parseHead(await reader.next());
          } catch (e) {
            await reader.cancel(e);
            const code = isSealError(e) ? e.code : 'PROTOCOL_ERROR';
            record({ workerId: w.id, outcome: 'sealed', code });
            // Cut before the head: nothing reached the caller, so another worker may answer.
            if (code === 'TRUNCATED' && !reader.released && !signal?.aborted) continue;
            throw new SealedFetchError('RESPONSE_REJECTED', `sealed response rejected before its head: ${code}`, { attempts, sealCode: code, cause: e });
          }
          if (head.status >= 500 && !last) {
            await reader.cancel();
            record({ workerId: w.id, outcome: `sealed ${head.status}` });
            continue;
          }
          record({ workerId: w.id, outcome: `sealed ${head.status}` });
          const info: ReceiptInfo = { workerId: w.id, model, endpoint, requestId: res.headers.get('x-request-id'), attempts };
          const apiKey = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
          const account = apiKey ? accountForApiKey(apiKey) : null;
          handedOff = true;
          return openResponse({ head, reader, worker: w, info, requestDigest: digestHex(message), onReceipt: options.onReceipt, gatewayHeaders: res.headers, account, cap, onFlowing: refill });
        }

        if (res.status >= 500) {
          record({ workerId: w.id, outcome: String(res.status) });
          lastServerError = { status: res.status, headers: res.headers, text: await res.text().catch(() => '') };
          continue;
        }
        if (res.status >= 400) {
          const text = await res.text().catch(() => '');
          const code = errorCodeOf(text);
          if (code !== null && UNOPENABLE.has(code)) {
            // The receiving worker could not open it: misrouted (another worker's key) or altered on the way.
            // It cannot be read by anyone, so another verified worker may be tried.
            record({ workerId: w.id, outcome: String(res.status), code });
            unopenable++;
            continue;
          }
          record({ workerId: w.id, outcome: String(res.status), ...(code ? { code } : {}) });
          // A clear error from the gateway (auth, rate limit, size, unknown model...): the caller sees it as is.
          return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
        }
        await res.body?.cancel().catch(() => {});
        record({ workerId: w.id, outcome: String(res.status), code: 'PROTOCOL_ERROR' });
        throw new SealedFetchError('PROTOCOL_ERROR', `the gateway answered a sealed request with status ${res.status}`, { attempts });
      } finally {
        if (!handedOff) refill();
      }
    }

    lists.delete(gw); // the list may be stale: fetch it again next time
    if (unopenable === attempts.length) {
      throw new SealedFetchError(
        'SEALED_REQUEST_REJECTED',
        `every worker tried refused the sealed request as unopenable (${attempts.map((a) => `${a.workerId}: ${a.code}`).join(', ')}): the gateway misroutes or alters sealed requests`,
        { attempts },
      );
    }
    if (lastServerError) {
      return new Response(lastServerError.text, { status: lastServerError.status, headers: lastServerError.headers });
    }
    throw new SealedFetchError('GATEWAY_UNREACHABLE', `no attempt reached a worker (${attempts.map((a) => `${a.workerId}: ${a.code ?? a.outcome}`).join(', ')})`, { attempts });
  };

  return {
    fetch: sealedFetchImpl as typeof fetch,
    verifier,
    workers,
    invalidate: () => lists.clear(),
    pool,
  };
}

interface OpenArgs {
  head: SealedHead;
  reader: SealedMessageReader;
  worker: VerifiedWorker;
  info: ReceiptInfo;
  requestDigest: string;
  onReceipt: SealedFetchOptions['onReceipt'];
  gatewayHeaders: Headers;
  /** The account our API key is billed under (null without a key). */
  account: string | null;
  cap: { prompt: bigint; completion: bigint } | null;
  /** Called once the first body bytes reach the caller, or when the response ends or fails before that. */
  onFlowing: () => void;
}

/** Streams the opened body to the caller; checks the trailer's receipt before the body ends. */
async function openResponse(a: OpenArgs): Promise<Response> {
  const { head, reader, worker, info } = a;
  const sse = head.contentType.toLowerCase().includes('text/event-stream');
  const gate = sse ? new SseGate() : null;
  const headers = new Headers({ 'content-type': head.contentType, 'x-sealgate-mode': 'sealed', 'x-sealgate-worker': worker.id });
  const rid = a.gatewayHeaders.get('x-request-id');
  if (rid) headers.set('x-request-id', rid);
  if (sse) headers.set('cache-control', 'no-cache');

  /** Reads the trailer: the receipt must verify and match this request and response. */
  const finish = async (trailer: Uint8Array): Promise<void> => {
    const t = parseJsonMessage(trailer, 'trailer');
    if (t.error !== undefined && t.error !== null) {
      const e = t.error as { message?: unknown; code?: unknown };
      throw new SealedFetchError('UPSTREAM_ERROR', `the backend failed after the response started: ${typeof e.message === 'string' ? e.message : 'error'}`, {
        sealCode: typeof e.code === 'string' ? e.code : 'upstream_error',
      });
    }
    const receipt = await verifyReceipt(t.receipt, worker.receiptKey);
    // The receipt must describe this very request and response, and carry the id the gateway bills under.
    const checks: Array<[string, boolean]> = [
      ['workerId', receipt.workerId === worker.id],
      ['model', receipt.model === info.model],
      ['endpoint', receipt.endpoint === info.endpoint],
      ['requestId', rid === null || receipt.requestId === rid],
      ['requestDigest', receipt.requestDigest === a.requestDigest],
      ['responseDigest', receipt.responseDigest === reader.responseDigest],
      ['account', a.account === null || receipt.account === a.account],
      ['price', priceWithin(receipt.price, a.cap)],
    ];
    const mismatch = checks.find(([, ok]) => !ok)?.[0] ?? null;
    if (mismatch) throw new SealError('RECEIPT_INVALID', `receipt ${mismatch} does not match this request and response`);
    try {
      a.onReceipt?.(receipt, info);
    } catch {
      // A failing callback must not turn an authentic response into an error.
    }
  };

  if (NULL_BODY.has(head.status)) {
    try {
      for (;;) {
        const m = await reader.next();
        if (m.final) {
          await finish(m.bytes);
          break;
        }
      }
    } finally {
      a.onFlowing();
    }
    return new Response(null, { status: head.status, headers });
  }

  const fail = async (controller: ReadableStreamDefaultController<Uint8Array>, e: unknown) => {
    await reader.cancel(e);
    const err =
      e instanceof SealedFetchError
        ? e
        : new SealedFetchError('RESPONSE_REJECTED', `sealed response rejected: ${isSealError(e) ? `${e.code}: ${e.message}` : String(e)}`, {
            sealCode: isSealError(e) ? e.code : 'PROTOCOL_ERROR',
            cause: e,
            attempts: info.attempts,
          });
    if (gate) {
      // SSE: an error event the official client throws on, then the end. Never a silent end.
      gate.discard();
      controller.enqueue(sseErrorEvent(err.toOpenAIError()));
      controller.close();
    } else {
      controller.error(err);
    }
  };

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const m = await reader.next();
          if (!m.final) {
            const out = gate ? gate.push(m.bytes) : m.bytes.length ? [m.bytes] : [];
            if (out.length === 0) continue;
            for (const o of out) controller.enqueue(o);
            a.onFlowing();
            return;
          }
          a.onFlowing();
          await finish(m.bytes);
          if (gate) for (const o of gate.finish()) controller.enqueue(o);
          controller.close();
          return;
        }
      } catch (e) {
        a.onFlowing();
        await fail(controller, e);
      }
    },
    async cancel(reason) {
      a.onFlowing();
      await reader.cancel(reason);
    },
  });
  return new Response(body, { status: head.status, headers });
}

async function readBody(req: Request | null, init?: RequestInit): Promise<string> {
  const b = init?.body;
  if (typeof b === 'string') return b;
  if (b === undefined || b === null) return req ? await req.clone().text() : '';
  return new Response(b).text();
}

function localError(status: number, type: string, code: string, message: string, param: string | null): Response {
  return new Response(JSON.stringify({ error: { message, type, param, code } }), {
    status,
    headers: { 'content-type': 'application/json', 'x-sealgate-mode': 'sealed', 'x-should-retry': 'false' },
  });
}

function errorCodeOf(text: string): string | null {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

function summarize(rejected: WorkerRejection[]): string {
  return rejected.map((r) => `${r.id}: ${r.code}`).join(', ') || 'no candidates';
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, '');
}

function shuffle<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
