/** The protocol layer shares the HPKE layer's typed errors (one error type, one code space). */
export { SealError, isSealError } from '../hpke/errors.ts';
export type { SealErrorCode } from '../hpke/errors.ts';
