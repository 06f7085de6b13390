import { AttestationError } from './errors.ts';

/**
 * Test helper: the stable code an attestation step fails with, or 'PASSED'.
 * Anything that is not an `AttestationError` is rethrown (a crash is a bug, not a verdict).
 *
 * @example
 * expect(await codeOf(verifyDcapQuote(quote, collateral, { now }))).toBe('QUOTE_SIGNATURE_INVALID');
 */
export async function codeOf(step: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof step === 'function' ? step() : step);
  } catch (e) {
    if (e instanceof AttestationError) return e.code;
    throw e;
  }
  return 'PASSED';
}
