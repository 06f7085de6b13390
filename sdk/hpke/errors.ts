/**
 * Typed errors for the HPKE layer and the sealed request/response protocol.
 *
 * Every rejection is a `SealError` with a stable `code` (as `jose` does), so
 * callers can branch on `err.code` instead of parsing messages. Messages never
 * contain plaintext or key material.
 */

export type SealErrorCode =
  /** AEAD authentication failed: tampered ciphertext, wrong key, wrong AAD, or a response replayed under another request. */
  | 'OPEN_FAILED'
  /** Unknown or unsupported KEM / KDF / AEAD identifier, mode or protocol version. */
  | 'UNSUPPORTED_SUITE'
  /** Bytes that do not parse: wrong lengths, bad framing, trailing data after the final chunk, oversized chunk. */
  | 'MALFORMED_MESSAGE'
  /** A request whose replay id was already accepted. */
  | 'REPLAY'
  /** The replay guard is full of unexpired ids; the request is refused rather than risk accepting a replay. */
  | 'REPLAY_GUARD_FULL'
  /** The response stream ended without an authenticated final chunk (dropped final chunk, cut mid-chunk). */
  | 'TRUNCATED'
  /** A chunk arrived with a sequence number ahead of the expected one (chunks swapped or skipped). */
  | 'REORDERED'
  /** A chunk arrived with a sequence number already consumed (duplicated chunk). */
  | 'DUPLICATE'
  /** The caller holds no key for the KEM named in the message, or a key has the wrong size / is invalid. */
  | 'KEY_MISMATCH'
  /** Invalid public key or degenerate Diffie-Hellman output, or KEM encapsulation failure. */
  | 'KEM_FAILED'
  /** Sequence number space exhausted, or a sealer/opener used after it was finished. */
  | 'STATE_ERROR'
  /** API misuse: bad argument types or sizes (a programming error, not an attack). */
  | 'INVALID_ARGUMENT'
  /** A usage receipt that is malformed, badly signed, or does not match the request and response it claims. */
  | 'RECEIPT_INVALID'
  /** The model in the clear routing metadata differs from the model in the sealed body. */
  | 'MODEL_MISMATCH'
  /** The sealed head, body or trailer messages do not follow the HTTP binding. */
  | 'PROTOCOL_ERROR'
  /** A request names a session the recipient does not hold (never opened, evicted or expired): open a new one and resend. */
  | 'UNKNOWN_SESSION';

export class SealError extends Error {
  readonly code: SealErrorCode;
  override readonly name = 'SealError';

  constructor(code: SealErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

export function isSealError(err: unknown, code?: SealErrorCode): err is SealError {
  return err instanceof SealError && (code === undefined || err.code === code);
}
