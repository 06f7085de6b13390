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
  /**
   * Who the gateway bills: `acct_` + the first 32 hex digits of SHA-256(API key),
   * as the gateway told the worker. A client can compute it from its own key.
   */
  account: string;
  /** The worker's price for this model, nanoton per token, as decimal strings. */
  price: Price;
  /** Ed25519 signature, base64url, over tag ‖ 0x00 ‖ canonical JSON of the other fields. */
  sig: string;
}

export type UnsignedReceipt = Omit<Receipt, 'sig'>;

/** Nanoton per token, prompt and completion priced separately (decimal strings: they are 64-bit). */
export interface Price {
  prompt: string;
  completion: string;
}

const NANOTON = /^(0|[1-9][0-9]{0,18})$/;

/** True for a price whose parts are decimal nanoton amounts below 10^19. */
export function isPrice(p: unknown): p is Price {
  const x = p as Partial<Price> | null;
  return !!x && typeof x.prompt === 'string' && typeof x.completion === 'string' && NANOTON.test(x.prompt) && NANOTON.test(x.completion);
}

/**
 * What a receipt charges, in nanoton: prompt tokens × prompt price + completion tokens × completion price.
 *
 * @example
 * receiptCharge({ promptTokens: 10, completionTokens: 5, price: { prompt: '2', completion: '3' } }) // 35n
 */
export function receiptCharge(r: Pick<Receipt, 'promptTokens' | 'completionTokens' | 'price'>): bigint {
  return BigInt(r.promptTokens) * BigInt(r.price.prompt) + BigInt(r.completionTokens) * BigInt(r.price.completion);
}

/** The signed fields of a receipt, and nothing else (what both signatures cover). */
function fieldsOf(r: UnsignedReceipt): UnsignedReceipt {
  const { v, requestId, workerId, model, endpoint, promptTokens, completionTokens, requestDigest, responseDigest, time, account } = r;
  const price = { prompt: r.price.prompt, completion: r.price.completion };
  return { v, requestId, workerId, model, endpoint, promptTokens, completionTokens, requestDigest, responseDigest, time, account, price };
}

function signedBytes(r: UnsignedReceipt): Uint8Array {
  return concatBytes(utf8(RECEIPT_TAG), new Uint8Array([0]), utf8(canonicalJson(fieldsOf(r))));
}

/** Whether `x` has every receipt field with the right type (signature not checked). */
function isReceiptShape(x: Partial<Receipt> | null): x is UnsignedReceipt & { sig?: string } {
  return (
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
    typeof x.account === 'string' &&
    isPrice(x.price)
  );
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
  if (!isReceiptShape(x) || typeof x.sig !== 'string') throw new SealError('RECEIPT_INVALID', 'receipt is malformed');
  let valid = false;
  try {
    valid = await ed25519Verify(fromBase64(x.sig!), signedBytes(x as Receipt), publicKey);
  } catch {
    valid = false;
  }
  if (!valid) throw new SealError('RECEIPT_INVALID', 'receipt signature does not verify');
  return x as Receipt;
}

/** Domain tag for receipt-batch signatures. */
export const RECEIPT_BATCH_TAG = 'sealgate/receipt-batch/v1';

/** Most receipts in one batch. */
export const MAX_BATCH_RECEIPTS = 1024;

/**
 * Receipts a worker delivers to its gateway together, under one signature of
 * its receipt key. A sealed request's receipt keeps its own `sig` (the client
 * checks that one); a plain request's receipt has none and is signed only here.
 */
export interface ReceiptBatch {
  v: 1;
  workerId: string;
  receipts: Array<UnsignedReceipt & { sig?: string }>;
  /** Ed25519, base64url, over tag ‖ 0x00 ‖ canonical JSON of {v, workerId, receipts}. */
  sig: string;
}

/** A batch as verified: its receipts normalised, and `body`, the canonical JSON its signature covers. */
export interface VerifiedReceiptBatch extends ReceiptBatch {
  body: string;
}

const normalize = (r: UnsignedReceipt & { sig?: string }) => (r.sig === undefined ? fieldsOf(r) : { ...fieldsOf(r), sig: r.sig });

/** The canonical JSON a batch signature covers (receipts already normalised). */
function batchBody(workerId: string, receipts: Array<UnsignedReceipt & { sig?: string }>): string {
  return canonicalJson({ v: 1, workerId, receipts });
}

const batchBytes = (body: string) => concatBytes(utf8(RECEIPT_BATCH_TAG), new Uint8Array([0]), utf8(body));

/**
 * Worker: signs receipts for delivery in one go (one Ed25519 signature instead
 * of one per request on the plain path).
 *
 * @example
 * const batch = await signReceiptBatch(workerId, [plainReceipt, sealedReceipt], receiptKey);
 */
export async function signReceiptBatch(workerId: string, receipts: Array<UnsignedReceipt & { sig?: string }>, secretKey: Uint8Array): Promise<ReceiptBatch> {
  const normalized = receipts.map(normalize);
  return { v: 1, workerId, receipts: normalized, sig: toBase64Url(await ed25519Sign(batchBytes(batchBody(workerId, normalized)), secretKey)) };
}

/**
 * Gateway: checks a batch's shape and its one signature against the worker's
 * bound receipt key; rejects with `SealError('RECEIPT_INVALID')` otherwise.
 * The batch signature covers every receipt in it, so receipts' own signatures
 * (meant for clients) need no second check here.
 */
export async function verifyReceiptBatch(input: unknown, publicKey: Uint8Array): Promise<VerifiedReceiptBatch> {
  const x = input as Partial<ReceiptBatch> | null;
  const ok =
    !!x &&
    x.v === 1 &&
    typeof x.workerId === 'string' &&
    typeof x.sig === 'string' &&
    Array.isArray(x.receipts) &&
    x.receipts.length > 0 &&
    x.receipts.length <= MAX_BATCH_RECEIPTS &&
    x.receipts.every((r) => isReceiptShape(r) && (r.sig === undefined || typeof r.sig === 'string'));
  if (!ok) throw new SealError('RECEIPT_INVALID', 'receipt batch is malformed');
  const receipts = x.receipts!.map(normalize);
  const body = batchBody(x.workerId!, receipts);
  let valid = false;
  try {
    valid = await ed25519Verify(fromBase64(x.sig!), batchBytes(body), publicKey);
  } catch {
    valid = false;
  }
  if (!valid) throw new SealError('RECEIPT_INVALID', 'receipt batch signature does not verify');
  return { v: 1, workerId: x.workerId!, receipts, sig: x.sig!, body };
}

/**
 * The account a gateway bills an API key under: `acct_` + the first 32 hex
 * digits of SHA-256(key). Receipts carry it, so a client can check that its
 * usage is not billed to someone else or someone else's to it.
 *
 * @example
 * accountForApiKey('sk-sg-…') // 'acct_3f…'
 */
export function accountForApiKey(apiKey: string): string {
  return 'acct_' + toHex(sha256(utf8(apiKey))).slice(0, 32);
}

/** Whether a receipt's price is within a cap (nanoton per token; no cap: any price). */
export function priceWithin(price: Price, cap: { prompt: bigint; completion: bigint } | null): boolean {
  return cap === null || (BigInt(price.prompt) <= cap.prompt && BigInt(price.completion) <= cap.completion);
}

/** Hex SHA-256, as receipts carry digests. */
export function digestHex(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}
