import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { verifyBundle, type BundleVerifier, type Policy } from '../attestation/index.ts';
import { fromBase64, toHex } from '../attestation/util/bytes.ts';
import { ApiKeyAuthenticator } from './auth/index.ts';
import { accountForKeyHash, Billing, FREE, parsePriceCap, withinCap, type BillingOptions } from './billing/index.ts';
import { ApiError, internalError, invalidRequest, modelNotFound, notFound, overPriceCap, tooLarge } from './errors/index.ts';
import { forwardPlain, postFor, type PlainReply, type UpstreamFetch, type Usage } from './forward/index.ts';
import { HopSessions } from './forward/hop.ts';
import { replyResponse } from './forward/body.ts';
import { forwardSealed } from './forward/sealed.ts';
import { isSealError, verifyReceiptBatch, type VerifiedReceiptBatch } from '../sdk/protocol/index.ts';
import { silentLogger, type Logger } from './log.ts';
import { RateLimiter } from './ratelimit/index.ts';
import { Endpoint as EndpointSchema, WorkerRegistry, verdictSummary, type Endpoint } from './registry/index.ts';
import { Router } from './routing/index.ts';
import { ChatCompletionRequest, CompletionRequest, EmbeddingRequest, issueParam } from './schemas/openai.ts';
import type { ApiKeyRecord, Storage } from './storage/types.ts';
import { RequestLog } from './usage/request-log.ts';

/** Gateway settings; every field has a default except storage and policy. */
export interface GatewayOptions {
  storage: Storage;
  policy: Policy;
  verify?: BundleVerifier;
  /** How the gateway reaches workers; defaults to the global fetch. */
  fetch?: UpstreamFetch;
  logger?: Logger;
  /** Default per-key limits (a key's own limits override them). */
  rpm?: number;
  tpm?: number;
  maxBodyBytes?: number;
  admissionSeconds?: number;
  challengeSeconds?: number;
  heartbeatMs?: number;
  maxAttempts?: number;
  firstByteTimeoutMs?: number;
  /** How often the gateway replaces its session with each worker (the plain path's sealed hop), ms; default 10 minutes. */
  hopRotateMs?: number;
  /** How long a looked-up API key is trusted before storage is asked again. */
  keyCacheMs?: number;
  /** Origins allowed to call the API from a browser (CORS); default `*` (keys travel in headers, not cookies). */
  corsOrigins?: string[] | '*';
  /** TON billing (chain access and the operator's key); without it receipts are kept and no deposit is required. */
  billing?: Omit<BillingOptions, 'storage' | 'now'>;
  now?: () => number;
}

type Env = { Variables: { requestId: string; apiKey: ApiKeyRecord } };

/** The running gateway: its Hono app and the parts tests and entries need. */
export interface Gateway {
  app: Hono<Env>;
  registry: WorkerRegistry;
  router: Router;
  billing: Billing;
  /**
   * The completion routes and `/v1/sealed` (POST path -> handler) without
   * Hono, for the Node adapter: the same handler as the routes, with the
   * request id, key check, error envelopes and the headers the middleware adds
   * to a request without an `Origin` header (those with one go through Hono for CORS).
   */
  direct: Map<string, (req: DirectRequest) => Promise<PlainReply>>;
  /** Writes buffered request-log rows. */
  flush(): Promise<void>;
}

/** A request handed over without a `Request` object (see `Gateway.direct`). */
export interface DirectRequest {
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
  /** The whole body; a 413 `ApiError` past `limit` bytes. */
  body(limit: number): Promise<Uint8Array>;
  /** Aborted when the client goes away before the whole answer is sent. */
  signal: AbortSignal;
}

const DEFAULTS = {
  rpm: 600,
  tpm: 1_000_000,
  maxBodyBytes: 4 * 1024 * 1024,
  admissionSeconds: 600,
  challengeSeconds: 120,
  heartbeatMs: 5_000,
  maxAttempts: 3,
  firstByteTimeoutMs: 120_000,
  keyCacheMs: 1_000,
};

/**
 * Builds the gateway: the OpenAI-compatible API, the worker registry and
 * routing. Runtime-agnostic (Web standards only); entries for Node and
 * Workers wrap `app.fetch`.
 *
 * @example
 * const gw = createGateway({ storage, policy });
 * serve({ fetch: gw.app.fetch, port: 8787 });
 */
export function createGateway(options: GatewayOptions): Gateway {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & GatewayOptions;
  const now = o.now ?? Date.now;
  const log = o.logger ?? silentLogger;
  const auth = new ApiKeyAuthenticator(o.storage, o.keyCacheMs);
  const limiter = new RateLimiter();
  const router = new Router({ now });
  const requestLog = new RequestLog(o.storage);
  const billing = new Billing({ ...o.billing, storage: o.storage, now });
  const registry = new WorkerRegistry({
    checkPayoutChannel: (ch) => billing.checkPayoutChannel(ch),
    storage: o.storage,
    verify: o.verify ?? verifyBundle,
    policy: o.policy,
    admissionSeconds: o.admissionSeconds,
    challengeSeconds: o.challengeSeconds,
    heartbeatMs: o.heartbeatMs,
    now,
  });
  const upstream: UpstreamFetch = o.fetch ?? ((url, init) => fetch(url, init));
  const hops = new HopSessions(postFor(upstream), { openTimeoutMs: o.firstByteTimeoutMs, rotateMs: o.hopRotateMs, now });
  const forwardDeps = {
    registry,
    router,
    fetch: upstream,
    maxAttempts: o.maxAttempts,
    firstByteTimeoutMs: o.firstByteTimeoutMs,
    hops,
  };

  const app = new Hono<Env>();

  const errorResponse = (c: Context<Env>, err: ApiError) => {
    const requestId = c.get('requestId') ?? newRequestId();
    log({ event: 'error', requestId, status: err.status, code: err.code });
    return new Response(JSON.stringify(err.toJSON()), {
      status: err.status,
      headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...err.headers() },
    });
  };

  app.onError((err, c) => errorResponse(c, err instanceof ApiError ? err : internalError()));
  app.notFound((c) => errorResponse(c, notFound(`Unknown route ${c.req.method} ${c.req.path}.`)));

  app.use('*', async (c, next) => {
    const requestId = newRequestId();
    c.set('requestId', requestId);
    await next();
    c.res.headers.set('x-request-id', requestId);
  });

  // Browsers call the API cross-origin (the SDK runs in web apps); credentials are bearer keys, never cookies.
  const corsOptions = {
    origin: o.corsOrigins === undefined || o.corsOrigins === '*' ? '*' : o.corsOrigins,
    exposeHeaders: ['x-request-id', 'x-sealgate-mode', 'x-sealgate-worker', 'x-should-retry', 'retry-after'],
    maxAge: 600,
  };
  app.use('/v1/*', cors(corsOptions));

  app.get('/healthz', (c) =>
    c.json({ status: 'ok', workers: registry.routable().length, models: [...registry.models().keys()] }),
  );

  // --- worker registry -----------------------------------------------------

  app.post('/v1/workers/challenge', async (c) => c.json(await registry.challenge()));

  app.post('/v1/workers', async (c) => {
    const body = await readJson(c.req.raw, o.maxBodyBytes);
    try {
      const { worker, verdict } = await registry.register(body);
      log({
        event: 'worker.admitted',
        workerId: worker.id,
        url: worker.url,
        kind: verdict.tee.kind,
        models: [...worker.models.keys()],
        admittedUntil: worker.admittedUntil,
        insecure: verdict.tee.kind === 'simulated',
      });
      return c.json({
        id: worker.id,
        token: worker.token,
        admittedUntil: worker.admittedUntil,
        heartbeatMs: o.heartbeatMs,
        verdict: verdictSummary(verdict),
      });
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) log({ event: 'worker.refused', code: e.code, reason: e.message });
      throw e;
    }
  });

  app.post('/v1/workers/:id/heartbeat', async (c) => {
    const w = registry.heartbeat(c.req.param('id'), c.req.header('authorization'), await readJson(c.req.raw, 4096));
    return c.json({ admittedUntil: w.admittedUntil, inFlight: router.inFlight(w.id) });
  });

  app.delete('/v1/workers/:id', async (c) => {
    const id = c.req.param('id');
    await registry.deregister(id, c.req.header('authorization'));
    router.forget(id);
    hops.drop(id);
    log({ event: 'worker.deregistered', workerId: id });
    return c.json({ id, deregistered: true });
  });

  /** Admitted workers with their evidence, so clients can verify them themselves. */
  app.get('/v1/workers', (c) =>
    c.json({
      object: 'list',
      data: registry.routable().map((w) => ({
        id: w.id,
        models: [...w.models.keys()],
        prices: Object.fromEntries(w.prices),
        admittedUntil: w.admittedUntil,
        evidence: w.bundle,
        verdict: verdictSummary(w.verdict),
      })),
    }),
  );

  // --- OpenAI-compatible API ----------------------------------------------

  app.use('/v1/*', async (c, next) => {
    const p = c.req.path;
    if (p === '/v1/workers' || p.startsWith('/v1/workers/') || p.startsWith('/v1/payouts/')) return next();
    c.set('apiKey', await auth.authenticate(c.req.header('authorization'), now()));
    return next();
  });

  app.get('/v1/models', (c) =>
    c.json({ object: 'list', data: [...registry.models()].map(([id, created]) => modelObject(id, created)) }),
  );

  app.get('/v1/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    const created = registry.models().get(id);
    if (created === undefined) throw modelNotFound(id);
    return c.json(modelObject(id, created));
  });

  /** Charges tokens to the key, and logs the request (metadata and token counts only). */
  const recordRequest = (r: {
    requestId: string;
    keyId: string;
    endpoint: Endpoint;
    model: string;
    workerId: string | null;
    mode: 'plain' | 'sealed';
    status: number;
    usage: Usage | null;
    started: number;
    outcome: string;
  }) => {
    const u: Usage = r.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
    limiter.addTokens(r.keyId, u.prompt_tokens + u.completion_tokens, now());
    const durationMs = Math.round(performance.now() - r.started);
    const status = r.outcome === 'broken' ? 502 : r.status;
    requestLog.add({
      id: r.requestId,
      keyId: r.keyId,
      endpoint: r.endpoint,
      model: r.model,
      workerId: r.workerId,
      mode: r.mode,
      status,
      promptTokens: u.prompt_tokens,
      completionTokens: u.completion_tokens,
      durationMs,
      createdAt: now(),
    });
    log({ event: 'request', requestId: r.requestId, endpoint: r.endpoint, model: r.model, workerId: r.workerId, status, promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, durationMs, outcome: r.outcome });
  };

  type PlainSchema = typeof ChatCompletionRequest | typeof CompletionRequest | typeof EmbeddingRequest;

  /**
   * A handler shared by a Hono route and `Gateway.direct` (the Node adapter's
   * direct path, which skips the middleware above: a check added there for
   * these routes belongs in the handler, or in `route` below).
   */
  type Handler = (requestId: string, key: ApiKeyRecord, req: DirectRequest) => Promise<PlainReply>;

  const handlePlain = async (endpoint: Endpoint, path: string, schema: PlainSchema, requestId: string, key: ApiKeyRecord, req: DirectRequest): Promise<PlainReply> => {
    const started = performance.now();
    limiter.admit(key.id, { rpm: key.rpm ?? o.rpm, tpm: key.tpm ?? o.tpm }, now());
    const account = accountForKeyHash(key.hash);
    if (billing.enabled) await billing.admit(account);
    const cap = parsePriceCap(req.header('x-sealgate-max-price'));
    const bytes = await req.body(o.maxBodyBytes);
    const parsed = schema.safeParse(parseJson(bytes));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issueParam(issue.path);
      throw invalidRequest(`Invalid request${param ? ` at \`${param}\`` : ''}: ${issue.message}`, param);
    }
    const body = parsed.data as Record<string, unknown> & { model: string; stream?: boolean | null; stream_options?: { include_usage?: boolean } | null };
    const stream = body.stream === true;
    const clientWantsUsage = body.stream_options?.include_usage === true;
    if (stream) body.stream_options = { ...body.stream_options, include_usage: true };
    return forwardPlain(
      forwardDeps,
      {
        endpoint,
        model: body.model,
        // Unchanged requests go on as the bytes that were validated (the worker validates them again).
        body: stream ? JSON.stringify(body) : bytes,
        stream,
        dropUsageChunk: !clientWantsUsage,
        requestId,
        signal: req.signal,
        headers: { 'x-sealgate-mode': 'plain', 'x-request-id': requestId },
        account,
        accept: cap ? (w) => withinCap(w.prices.get(body.model) ?? FREE, cap) : undefined,
      },
      ({ workerId, status, usage, outcome }) =>
        recordRequest({ requestId, keyId: key.id, endpoint, model: body.model, workerId, mode: 'plain', status, usage, started, outcome }),
    );
  };

  // --- sealed path: ciphertext in, ciphertext out (docs/PROTOCOL.md §12) ---

  /** Sealed requests awaiting their worker's receipt, by request id (bounded, oldest dropped first). */
  const pending = new Map<string, { keyId: string; model: string; endpoint: Endpoint; workerId: string; started: number }>();

  const handleSealed: Handler = async (requestId, key, req) => {
    limiter.admit(key.id, { rpm: key.rpm ?? o.rpm, tpm: key.tpm ?? o.tpm }, now());
    const endpoint = EndpointSchema.safeParse(req.header('x-sealgate-endpoint'));
    const model = req.header('x-sealgate-model');
    const workerId = req.header('x-sealgate-worker');
    if (!endpoint.success) throw invalidRequest('x-sealgate-endpoint must be chat.completions, completions or embeddings.', 'x-sealgate-endpoint');
    if (!model || model.length > 256) throw invalidRequest('x-sealgate-model is required.', 'x-sealgate-model');
    if (!workerId || !/^wk_[0-9a-f]{24}$/.test(workerId)) throw invalidRequest('x-sealgate-worker must name an admitted worker.', 'x-sealgate-worker');
    const account = accountForKeyHash(key.hash);
    if (billing.enabled) await billing.admit(account);
    const cap = parsePriceCap(req.header('x-sealgate-max-price'));
    const price = registry.get(workerId)?.prices.get(model);
    if (cap && price && !withinCap(price, cap)) throw overPriceCap(model);
    const body = await req.body(o.maxBodyBytes);
    const started = performance.now();
    pending.set(requestId, { keyId: key.id, model, endpoint: endpoint.data, workerId, started });
    if (pending.size > 100_000) pending.delete(pending.keys().next().value!);
    return forwardSealed(
      forwardDeps,
      { endpoint: endpoint.data, model, workerId, body, requestId, signal: req.signal, headers: { 'x-sealgate-mode': 'sealed', 'x-request-id': requestId }, account },
      ({ status, outcome }) => {
        if (outcome !== 'broken' && status === 200) return; // the receipt completes the record
        pending.delete(requestId);
        recordRequest({ requestId, keyId: key.id, endpoint: endpoint.data, model, workerId, mode: 'sealed', status, usage: null, started, outcome });
      },
    );
  };

  /** What the middleware adds to a /v1 answer for a request without `Origin` (CORS). */
  const directHeaders: Record<string, string> =
    corsOptions.origin === '*'
      ? { 'access-control-allow-origin': '*', 'access-control-expose-headers': corsOptions.exposeHeaders.join(',') }
      : { 'access-control-expose-headers': corsOptions.exposeHeaders.join(','), vary: 'Origin' };

  const direct = new Map<string, (req: DirectRequest) => Promise<PlainReply>>();

  /** Serves POST `path` with `handler`, both through Hono and in `direct`. */
  const route = (path: string, handler: Handler) => {
    app.post(path, async (c) =>
      replyResponse(
        await handler(c.get('requestId'), c.get('apiKey'), {
          header: (name) => c.req.header(name),
          body: (limit) => readBytes(c.req.raw, limit),
          signal: c.req.raw.signal,
        }),
      ),
    );
    direct.set(path, async (req) => {
      const requestId = newRequestId();
      let reply: PlainReply;
      try {
        const key = await auth.authenticate(req.header('authorization'), now());
        reply = await handler(requestId, key, req);
      } catch (e) {
        const err = e instanceof ApiError ? e : internalError();
        log({ event: 'error', requestId, status: err.status, code: err.code });
        reply = { status: err.status, headers: { 'content-type': 'application/json', ...err.headers() }, body: JSON.stringify(err.toJSON()) };
      }
      Object.assign(reply.headers, directHeaders);
      reply.headers['x-request-id'] = requestId;
      return reply;
    });
  };

  route('/v1/sealed', handleSealed);

  /**
   * A worker's signed usage receipt (plain or sealed request), verified against
   * its bound receipt key and its registered price, and committed to the ledger
   * before it is acknowledged: the worker retries until it gets this answer.
   */
  app.post('/v1/workers/:id/receipts', async (c) => {
    const w = registry.authenticate(c.req.param('id'), c.req.header('authorization'));
    const body = (await readJson(c.req.raw, 4 * 1024 * 1024)) as { batch?: unknown } | null;
    const bound = w.bundle.binding.keys.find((k) => k.use === 'receipt');
    if (!bound) throw invalidRequest('worker evidence binds no receipt key');
    let batch: VerifiedReceiptBatch;
    try {
      batch = await verifyReceiptBatch(body?.batch, fromBase64(bound.key));
    } catch (e) {
      if (isSealError(e)) throw invalidRequest(`receipts refused: ${e.message}`, 'batch', e.code);
      throw e;
    }
    if (batch.workerId !== w.id) throw invalidRequest('receipt batch names another worker', 'batch', 'RECEIPT_INVALID');
    const { stored, duplicates, refused } = await billing.recordBatch(batch, w);
    for (const receipt of stored) {
      const p = pending.get(receipt.requestId);
      if (!p || p.workerId !== w.id) continue;
      pending.delete(receipt.requestId);
      recordRequest({
        requestId: receipt.requestId,
        keyId: p.keyId,
        endpoint: p.endpoint,
        model: p.model,
        workerId: w.id,
        mode: 'sealed',
        status: 200,
        usage: { prompt_tokens: receipt.promptTokens, completion_tokens: receipt.completionTokens },
        started: p.started,
        outcome: 'complete',
      });
    }
    return c.json({ stored: stored.length, duplicates, refused });
  });

  // --- billing: balances, deposits, client vouchers, provider payouts ----------

  app.get('/v1/billing', async (c) => c.json(await billing.summary(accountForKeyHash(c.get('apiKey').hash))));

  app.get('/v1/billing/receipts', async (c) => {
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 100) || 100, 1), 1000);
    const rows = await o.storage.listReceipts(limit, accountForKeyHash(c.get('apiKey').hash));
    return c.json({ object: 'list', data: rows.map(({ charge, payoutChannel: _p, ...r }) => ({ ...r, v: 1, charge: charge.toString() })) });
  });

  app.post('/v1/billing/deposits', async (c) => {
    const body = (await readJson(c.req.raw, 4096)) as { channel?: unknown } | null;
    return c.json(await billing.bindDeposit(accountForKeyHash(c.get('apiKey').hash), body?.channel));
  });

  app.post('/v1/billing/vouchers', async (c) =>
    c.json(await billing.acceptVoucher(accountForKeyHash(c.get('apiKey').hash), await readJson(c.req.raw, 16 * 1024))),
  );

  /** A provider's voucher; public, since only the channel's payee can be paid with it. */
  app.get('/v1/payouts/:channel', async (c) => c.json(await billing.payoutVoucher(c.req.param('channel'))));

  for (const [endpoint, path, schema] of [
    ['chat.completions', '/v1/chat/completions', ChatCompletionRequest],
    ['completions', '/v1/completions', CompletionRequest],
    ['embeddings', '/v1/embeddings', EmbeddingRequest],
  ] as const) {
    route(path, (requestId, key, req) => handlePlain(endpoint, path, schema, requestId, key, req));
  }

  return { app, registry, router, billing, direct, flush: () => requestLog.flush() };
}

/** Request ids: a random per-process prefix and a counter (unique, cheap; not secrets). */
let REQUEST_ID_PREFIX = ''; // drawn on first use: Workers refuse random values at module scope
let requestCounter = 0;
function newRequestId(): string {
  REQUEST_ID_PREFIX ||= 'req_' + toHex(crypto.getRandomValues(new Uint8Array(6)));
  return REQUEST_ID_PREFIX + (requestCounter++).toString(16).padStart(12, '0');
}

function modelObject(id: string, createdMs: number) {
  return { id, object: 'model', created: Math.floor(createdMs / 1000), owned_by: 'sealgate' };
}

/** Reads a JSON body, refusing more than `limit` bytes (413) and bad JSON (400). */
async function readJson(req: Request, limit: number): Promise<unknown> {
  return parseJson(await readBytes(req, limit));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses UTF-8 JSON, refusing anything else (400). */
function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(strictUtf8.decode(bytes));
  } catch {
    throw invalidRequest('Request body is not valid JSON.');
  }
}

/** Reads a body, refusing more than `limit` bytes (413). */
async function readBytes(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  let bytes: Uint8Array;
  if (declared !== null) {
    // Declared length: one read (runtimes read it without a stream), bounded by the declaration.
    if (Number(declared) > limit) throw tooLarge(limit);
    bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.length > limit) throw tooLarge(limit);
  } else {
    if (!req.body) throw invalidRequest('Request body is required and must be JSON.');
    bytes = await readLimited(req.body, limit);
  }
  return bytes;
}

/** Reads a stream of unknown length, giving up (413) past `limit` bytes. */
async function readLimited(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const ch of chunks) {
    bytes.set(ch, off);
    off += ch.length;
  }
  return bytes;
}
