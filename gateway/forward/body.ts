import { SEALED_RESPONSE_TYPE } from '../../sdk/protocol/wire.ts';

/**
 * Responses that were read whole carry their bytes under this symbol, so the
 * next reader takes them directly instead of through a Web stream (which is
 * costly per request on Node). Any other response is read the standard way.
 */
const BYTES = Symbol.for('sealgate.responseBytes');

/** A Response whose body is already in memory. */
export function bufferedResponse(bytes: Uint8Array, init: ResponseInit): Response {
  const res = new Response(bytes as Uint8Array<ArrayBuffer>, init);
  (res as unknown as Record<symbol, Uint8Array>)[BYTES] = bytes;
  return res;
}

/** The body of a `bufferedResponse`, or undefined (read it the standard way). */
export function heldBytes(res: Response): Uint8Array | undefined {
  return (res as unknown as Record<symbol, Uint8Array | undefined>)[BYTES];
}

/** The whole body of `res`, without a stream when it was buffered. */
export async function responseBytes(res: Response): Promise<Uint8Array> {
  return heldBytes(res) ?? new Uint8Array(await res.arrayBuffer());
}

/**
 * An answer (plain or sealed path) as plain data before it becomes a `Response`: the Hono routes wrap it
 * in one, the Node adapter writes it to the socket directly (Response and
 * Headers objects cost more per request on Node than the rest of a hop).
 */
export interface PlainReply {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The whole body, or a stream (SSE, sealed frames). */
  body: Uint8Array | string | ReadableStream<Uint8Array>;
}

/** `reply` as a Web `Response`. */
export function replyResponse(reply: PlainReply): Response {
  return new Response(reply.body as BodyInit, { status: reply.status, headers: reply.headers });
}

/**
 * A worker's answer as the gateway needs it: whole when it is JSON (or an
 * error), streamed otherwise (SSE, sealed responses).
 */
export interface UpstreamAnswer {
  status: number;
  /** The `content-type` header, '' when absent. */
  contentType: string;
  /** The whole body, read before the answer resolved; null when `stream` is set. */
  bytes: Uint8Array | null;
  stream: ReadableStream<Uint8Array> | null;
}

/**
 * A POST to a worker (or a worker's backend); the Node adapter implements it on
 * undici without Response objects. With `failFast` (the default), a 5xx or 429
 * answer resolves at once with an empty body (the gateway fails over on it).
 * With `whole`, a body that would stream is read whole too (a sealed answer
 * to a non-streamed request: no Web stream for it).
 */
export type UpstreamPost = (
  url: string,
  headers: Record<string, string>,
  body: string | Uint8Array,
  signal: AbortSignal,
  failFast?: boolean,
  whole?: boolean,
) => Promise<UpstreamAnswer>;

/** Whether a body of this type is passed on as it arrives (SSE, a sealed response) rather than read whole. */
export function streamsBody(contentType: string): boolean {
  return contentType.includes('text/event-stream') || contentType.includes(SEALED_RESPONSE_TYPE);
}

/** Whether an answer with this status and type is read whole rather than streamed. */
export function readWhole(status: number, contentType: string): boolean {
  return status >= 400 || status === 204 || !streamsBody(contentType);
}

/** An `UpstreamPost` over any fetch (Workers, tests): Web streams only where the answer streams. */
export function postViaFetch(fetcher: (url: string, init: RequestInit) => Promise<Response>): UpstreamPost {
  return async (url, headers, body, signal, failFast = true, whole = false) => {
    const res = await fetcher(url, { method: 'POST', headers, body: body as BodyInit, signal });
    const contentType = res.headers.get('content-type') ?? '';
    if (failFast && (res.status >= 500 || res.status === 429)) {
      // Failed over without reading: the body may never end.
      await res.body?.cancel().catch(() => {});
      return { status: res.status, contentType, bytes: new Uint8Array(0), stream: null };
    }
    if (whole || readWhole(res.status, contentType) || !res.body) {
      return { status: res.status, contentType, bytes: await responseBytes(res), stream: null };
    }
    return { status: res.status, contentType, bytes: null, stream: res.body };
  };
}
