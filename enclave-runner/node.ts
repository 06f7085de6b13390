import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnclaveWorker, type EnclaveWorkerOptions, type RequestLike } from './worker.ts';
import { bufferedResponse, heldBytes, responseBytes, streamsBody } from '../gateway/forward/body.ts';
import type { UpstreamFetch } from '../gateway/forward/index.ts';
import { listen, readBody, writeReply } from '../gateway/node-direct.ts';
import { pooledFetch } from '../gateway/node-pool.ts';

export interface NodeWorkerOptions extends EnclaveWorkerOptions {
  port?: number;
  host?: string;
  /** URL the gateway should use to reach this worker; default `http://<host>:<port>`. */
  publicUrl?: string;
}

export interface RunningWorker {
  worker: EnclaveWorker;
  url: string;
  /** Drains, deregisters and closes the server. */
  stop(drainTimeoutMs?: number): Promise<void>;
  /** Closes the server at once, without deregistering (as a crash would). */
  kill(): Promise<void>;
}

/**
 * Starts an enclave worker on Node: serves it, registers with the gateway and
 * starts heartbeats.
 *
 * @example
 * const w = await startWorker({ gatewayUrl, backend: new DemoBackend(), tee: await SimulatedTeeProvider.create() });
 */
export async function startWorker(options: NodeWorkerOptions): Promise<RunningWorker> {
  // Calls to the gateway (registration, heartbeats, one receipt per request) over a
  // keep-alive undici pool unless the caller brings its own fetch: WHATWG fetch costs
  // several times more CPU per call.
  const pool = options.fetch ? null : pooledFetch();
  const worker = new EnclaveWorker(pool ? { ...options, fetch: gatewayFetch(pool.fetch) } : options);
  const host = options.host ?? '127.0.0.1';
  // Completions and sealed requests (exact POST paths) straight from node:http: the same handler, no Hono dispatch or Request.
  const server = await listen({
    fetch: worker.app.fetch,
    port: options.port ?? 0,
    hostname: host,
    pick: (req) => (req.method === 'POST' ? worker.direct.get(req.url ?? '') : undefined),
    direct: serveDirect,
  });
  const { port } = server.address() as AddressInfo;
  const url = options.publicUrl ?? `http://${host}:${port}`;
  const close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    void pool?.close().catch(() => {}); // not awaited: a call to a gateway that is gone must not hold up shutdown
  };
  try {
    await worker.register(url);
  } catch (e) {
    await close();
    throw e;
  }
  worker.startHeartbeats();
  return {
    worker,
    url,
    async stop(drainTimeoutMs) {
      await worker.drain(drainTimeoutMs);
      await close();
    },
    async kill() {
      worker.stopHeartbeats();
      await close();
    },
  };
}

/** Runs a handler on a node:http request and writes its answer (buffered answers without a stream). */
async function serveDirect(handler: (req: RequestLike) => Promise<Response>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('client went away'));
  });
  try {
    const answer = await handler({
      headers: {
        get: (name) => {
          const v = req.headers[name.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
        },
      },
      arrayBuffer: () => readBody(req, Number.MAX_SAFE_INTEGER),
      signal: abort.signal,
    });
    const headers: Record<string, string> = {};
    answer.headers.forEach((v, k) => (headers[k] = v));
    // A buffered answer's bytes first: touching `answer.body` would build a stream for nothing.
    const held = heldBytes(answer);
    const streamed = !held && streamsBody(headers['content-type'] ?? '') && answer.body;
    writeReply({ status: answer.status, headers, body: streamed ? answer.body! : (held ?? (await responseBytes(answer))) }, res);
  } catch {
    // As Hono answers a handler that throws.
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=UTF-8' });
    res.end('Internal Server Error');
  }
}

const NEVER = new AbortController().signal;

/**
 * The worker's calls to the gateway: POSTs of a JSON string (receipts — one
 * per request —, heartbeats, registration) go through the pool's
 * dispatcher-based `post`; anything else through its fetch.
 */
function gatewayFetch(fetcher: UpstreamFetch): (url: string, init: RequestInit) => Promise<Response> {
  const post = fetcher.post;
  if (!post) return fetcher;
  return async (url, init) => {
    if (init.method !== 'POST' || typeof init.body !== 'string' || (init.headers !== undefined && (typeof init.headers !== 'object' || Array.isArray(init.headers) || init.headers instanceof Headers))) {
      return fetcher(url, init);
    }
    const a = await post(url, init.headers as Record<string, string> | undefined ?? {}, init.body, init.signal ?? NEVER, false);
    const headers = a.contentType ? { 'content-type': a.contentType } : undefined;
    if (a.stream) return new Response(a.stream, { status: a.status, headers });
    if (a.status === 204 || a.status === 205 || a.status === 304) return new Response(null, { status: a.status, headers });
    return bufferedResponse(a.bytes!, { status: a.status, headers });
  };
}
