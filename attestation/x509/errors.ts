/** X.509-specific typed errors (extending the shared `AttestationError`). */
import { defineErrorCode } from '../errors.ts';

/**
 * A certificate or CRL is not well-formed DER/X.509. Code `CERT_CHAIN_INVALID`
 * (the same code as a chain that does not verify), so callers that branch on
 * `code` treat an unparseable chain like a broken one.
 */
export class X509ParseError extends defineErrorCode('CERT_CHAIN_INVALID') {}
