// Node-only: serving completions and sealed requests straight from node:http, without Request/Response
// objects or Hono dispatch, for the gateway and the worker adapters. Everything else goes through Hono.
import { serve, type ServerType } from '@hono/node-server';
import { createServer, type IncomingMessage, type RequestListener, type ServerOptions, type ServerResponse } from 'node:http';
import { internalError, tooLarge } from './errors/index.ts';
import type { DirectRequest } from './app.ts';
import type { PlainReply } from './forward/body.ts';

export type DirectHandler = (req: DirectRequest) => Promise<PlainReply>;

/**
 * The handler for a POST to exactly `path` (no query string), or undefined.
 * Anything unusual (another method, a query, an absolute URL, percent
 * escapes) is left to Hono, so routing stays Hono's.
 */
export function directRoute(req: IncomingMessage, routes: Map<string, DirectHandler>): DirectHandler | undefined {
  if (req.method !== 'POST') return undefined;
  return routes.get(req.url ?? '');
}

/** Serves `req` with `handler` and writes its reply. */
export async function serveDirect(handler: DirectHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('client went away'));
  });
  let reply: PlainReply;
  try {
    reply = await handler({
      header: (name) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      body: (limit) => readBody(req, limit),
      signal: abort.signal,
    });
  } catch {
    const err = internalError(); // handlers answer their own errors; this is a bug's safety net
    reply = { status: err.status, headers: { 'content-type': 'application/json', ...err.headers() }, body: JSON.stringify(err.toJSON()) };
  }
  writeReply(reply, res);
}

/** Reads a request body, refusing more than `limit` bytes (413) before or while reading. */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume(); // drain the rest
        reject(tooLarge(limit));
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('client went away'));
    });
  });
}

/** Writes a reply: whole bodies in one write with their length, streams chunk by chunk. */
export function writeReply(reply: PlainReply, res: ServerResponse): void {
  const b = reply.body;
  if (typeof b === 'string' || b instanceof Uint8Array) {
    const bytes = typeof b === 'string' ? Buffer.from(b) : b;
    reply.headers['content-length'] = String(bytes.byteLength);
    res.writeHead(reply.status, reply.headers);
    res.end(bytes);
    return;
  }
  res.writeHead(reply.status, reply.headers);
  const reader = b.getReader();
  let closed = false;
  res.once('close', () => {
    closed = true;
    if (!res.writableFinished) reader.cancel().catch(() => {});
  });
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (closed) return;
        if (!res.write(value)) {
          await new Promise<void>((r) => {
            if (closed) return r();
            const go = () => {
              res.off('drain', go).off('close', go); // not left behind on every wait of a long stream
              r();
            };
            res.on('drain', go).on('close', go);
          });
        }
      }
      res.end();
    } catch {
      res.destroy();
    }
  })();
}

/**
 * Serves a Hono app on Node; a request `pick` returns a handler for is answered
 * by `direct` straight from node:http (no Request/Response objects, no Hono
 * dispatch), everything else by the app.
 *
 * @example
 * const server = await listen({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', pick: (req) => routes.get(req.url ?? ''), direct: serveDirect });
 */
export function listen<H>(o: {
  fetch: Parameters<typeof serve>[0] extends { fetch: infer F } ? F : never;
  port: number;
  hostname: string;
  pick: (req: IncomingMessage) => H | undefined;
  direct: (handler: H, req: IncomingMessage, res: ServerResponse) => Promise<void>;
}): Promise<ServerType> {
  return new Promise((resolve) => {
    const s = serve(
      {
        fetch: o.fetch,
        port: o.port,
        hostname: o.hostname,
        createServer: ((opts: ServerOptions, hono: RequestListener) =>
          createServer(opts, (req, res) => {
            const handler = o.pick(req);
            if (handler) void o.direct(handler, req, res);
            else hono(req, res);
          })) as typeof createServer,
      },
      () => resolve(s),
    );
  });
}
