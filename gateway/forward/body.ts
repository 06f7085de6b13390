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

/** The whole body of `res`, without a stream when it was buffered. */
export async function responseBytes(res: Response): Promise<Uint8Array> {
  const held = (res as unknown as Record<symbol, Uint8Array | undefined>)[BYTES];
  return held ?? new Uint8Array(await res.arrayBuffer());
}
