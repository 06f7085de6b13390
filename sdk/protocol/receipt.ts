import { canonicalJson } from '../../attestation/binding.ts';
import { concatBytes, fromBase64, toBase64Url, toHex, utf8 } from '../../attestation/util/bytes.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { SealError } from './errors.ts';
import { ed25519Sign, ed25519Verify, ed25519Warm } from '../hpke/native.ts';

/** Domain tag for receipt signatures. */
export const RECEIPT_TAG = 'sealgate/receipt/v1';

/**
 * What a worker enclave signs for every request it served. The client sees
 * it inside the sealed stream; the gateway gets the same receipt in clear.
 */
export interface Receipt {
  v: 1;
  requestId: string;
  workerId: string;
  model: string;
  endpoint: string;
  promptTokens: number;
  completionTokens: number;
  /** SHA-256 of the sealed request message, hex. */
  requestDigest: string;
  /** SHA-256 of every sealed response byte before the final frame, hex. */
  responseDigest: string;
  /** Unix milliseconds. */
  time: number;
  /** Ed25519 signature, base64url, over tag ‖ 0x00 ‖ canonical JSON of the other fields. */
  sig: string;
}

export type UnsignedReceipt = Omit<Receipt, 'sig'>;

function signedBytes(r: UnsignedReceipt): Uint8Array {
  const { v, requestId, workerId, model, endpoint, promptTokens, completionTokens, requestDigest, responseDigest, time } = r;
  const body = canonicalJson({ v, requestId, workerId, model, endpoint, promptTokens, completionTokens, requestDigest, responseDigest, time });
  return concatBytes(utf8(RECEIPT_TAG), new Uint8Array([0]), utf8(body));
}

/**
 * Signs a receipt with the enclave's Ed25519 receipt key (32-byte seed).
 * Web Crypto Ed25519 where the runtime has it (the imported key is cached per
 * secret-key array), else @noble/curves; Ed25519 is deterministic, so both
 * give the same signature.
 */
export async function signReceipt(r: UnsignedReceipt, secretKey: Uint8Array): Promise<Receipt> {
  return { ...r, sig: toBase64Url(await ed25519Sign(signedBytes(r), secretKey)) };
}

/** Worker: import the receipt signing key now rather than at the first receipt. Optional. */
export function warmReceiptKey(secretKey: Uint8Array): Promise<void> {
  return ed25519Warm(secretKey);
}

/**
 * Verifies a receipt's signature against the receipt key the worker's
 * evidence binds; rejects with `SealError('RECEIPT_INVALID')` otherwise.
 * Web Crypto Ed25519 where available, else @noble/curves.
 */
export async function verifyReceipt(r: unknown, publicKey: Uint8Array): Promise<Receipt> {
  const x = r as Partial<Receipt> | null;
  const ok =
    !!x &&
    x.v === 1 &&
    typeof x.requestId === 'string' &&
    typeof x.workerId === 'string' &&
    typeof x.model === 'string' &&
    typeof x.endpoint === 'string' &&
    Number.isSafeInteger(x.promptTokens) &&
    Number.isSafeInteger(x.completionTokens) &&
    (x.promptTokens as number) >= 0 &&
    (x.completionTokens as number) >= 0 &&
    typeof x.requestDigest === 'string' &&
    typeof x.responseDigest === 'string' &&
    Number.isSafeInteger(x.time) &&
    typeof x.sig === 'string';
  if (!ok) throw new SealError('RECEIPT_INVALID', 'receipt is malformed');
  let valid = false;
  try {
    valid = await ed25519Verify(fromBase64(x.sig!), signedBytes(x as Receipt), publicKey);
  } catch {
    valid = false;
  }
  if (!valid) throw new SealError('RECEIPT_INVALID', 'receipt signature does not verify');
  return x as Receipt;
}

/** Hex SHA-256, as receipts carry digests. */
export function digestHex(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}
