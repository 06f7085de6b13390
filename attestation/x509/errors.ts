/** X.509-specific typed errors (extending the shared `AttestationError`). */
import { AttestationError } from '../errors.ts';

/**
 * A certificate or CRL is not well-formed DER/X.509. Code `CERT_CHAIN_INVALID`
 * (the same code as a chain that does not verify), so callers that branch on
 * `code` treat an unparseable chain like a broken one.
 */
export class X509ParseError extends AttestationError {
  static readonly code = 'CERT_CHAIN_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super('CERT_CHAIN_INVALID', message, options);
  }
}
