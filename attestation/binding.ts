import type { BindingClaims } from './types.ts';
import { concatBytes, digest, toHex, utf8 } from './util/bytes.ts';

/** Domain tag for TEE report data. Changing it invalidates every worker's evidence. */
export const REPORT_DATA_TAG = 'sealgate/report-data/v1';
/** Domain tag for the nonce handed to GPU attestation. */
export const GPU_NONCE_TAG = 'sealgate/gpu-nonce/v1';

/**
 * Canonical JSON: object keys sorted, no whitespace. Only plain JSON values
 * (the binding claims are strings and arrays of flat objects).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * The 64 bytes a worker's TEE evidence must carry as report data:
 * SHA-512(tag || 0x00 || canonicalJson({keys, nonce, models, issuedAt?})).
 *
 * @example
 * const rd = await reportDataFor({ keys, nonce, models }); // Uint8Array(64)
 */
export async function reportDataFor(claims: BindingClaims): Promise<Uint8Array> {
  const body = canonicalJson({
    keys: claims.keys,
    nonce: claims.nonce.toLowerCase(),
    models: claims.models,
    ...(claims.issuedAt !== undefined ? { issuedAt: claims.issuedAt } : {}),
  });
  return digest('SHA-512', concatBytes(utf8(REPORT_DATA_TAG), new Uint8Array([0]), utf8(body)));
}

/**
 * The 32-byte nonce GPU evidence must carry: SHA-256(tag || 0x00 || reportData),
 * so GPU evidence is bound to the same keys and gateway nonce as the TEE evidence.
 */
export async function gpuNonceFor(reportData: Uint8Array): Promise<Uint8Array> {
  return digest('SHA-256', concatBytes(utf8(GPU_NONCE_TAG), new Uint8Array([0]), reportData));
}

/**
 * A worker's stable id: derived from the keys its evidence binds, so nobody
 * can present one worker's evidence under another's id.
 */
export async function workerIdFor(keys: BindingClaims['keys']): Promise<string> {
  return 'wk_' + toHex(await digest('SHA-256', utf8(canonicalJson(keys)))).slice(0, 24);
}
