/**
 * Sealed requests built the way a client does (docs/PROTOCOL.md §12), for
 * tests that talk `/v1/sealed` to the gateway or a worker by hand, and the
 * opened response without its per-request values.
 */
import { canonicalJson } from '../attestation/binding.ts';
import { utf8 } from '../attestation/util/bytes.ts';
import { boundKeys } from '../enclave-runner/keys.ts';
import type { EnclaveWorker } from '../enclave-runner/worker.ts';
import { sealRequest, selectRecipient, SEALED_REQUEST_TYPE, type ResponseOpener } from '../sdk/protocol/index.ts';

export const SEALED_MODEL = 'sealgate-demo';

/** A sealed chat completion for `worker` and the clear headers it travels with; `model` is the routed model, `body` the sealed one. */
export async function sealFor(worker: EnclaveWorker, body: object | string, o: { model?: string } = {}) {
  const workerId = worker.id!;
  const model = o.model ?? SEALED_MODEL;
  const aad = utf8(canonicalJson({ endpoint: 'chat.completions', model, worker: workerId }));
  const plaintext = utf8(typeof body === 'string' ? body : JSON.stringify(body));
  const { message, opener } = await sealRequest({ recipient: selectRecipient(boundKeys(worker.keys)), body: plaintext, aad });
  return {
    message,
    opener,
    headers: { 'content-type': SEALED_REQUEST_TYPE, 'x-sealgate-worker': workerId, 'x-sealgate-model': model, 'x-sealgate-endpoint': 'chat.completions' },
  };
}

const dec = new TextDecoder();

/**
 * A whole sealed response opened: the head, the body's plaintext (chunk
 * boundaries depend on timing) and the trailer, without ids, times, digests or
 * the signature; a receipt for `requestId` says `x-request-id` instead. Throws
 * if it does not open or ends without its final chunk.
 */
export function openedShape(bytes: Uint8Array, opener: ResponseOpener, requestId: string | null) {
  const msgs = opener.push(bytes).map((m) => dec.decode(m));
  opener.end();
  const trailer = JSON.parse(msgs.at(-1)!) as { receipt?: Record<string, unknown>; error?: unknown };
  if (trailer.receipt) {
    const { requestId: id, requestDigest: _q, responseDigest: _s, time: _t, sig: _g, ...rest } = trailer.receipt;
    trailer.receipt = { ...rest, requestId: id === requestId ? 'x-request-id' : id };
  }
  return {
    head: JSON.parse(msgs[0]!) as unknown,
    body: msgs.slice(1, -1).join('').replace(/"id":"[^"]*"/g, '"id":"-"').replace(/"created":\d+/g, '"created":0'),
    trailer,
  };
}
