/** Intel DCAP-specific typed errors, beyond those in `../errors.ts`. */
import { AttestationError } from '../errors.ts';

/** The QE report does not match Intel's QE Identity (MRSIGNER, ISVPRODID, masked MISCSELECT/ATTRIBUTES). */
export class QeIdentityMismatchError extends AttestationError {
  static readonly code = 'QE_IDENTITY_MISMATCH';
  constructor(message: string, options?: { cause?: unknown }) {
    super('QE_IDENTITY_MISMATCH', message, options);
  }
}

/** The TDX module (MRSIGNERSEAM / SEAM_ATTRIBUTES) does not match the TCB Info's TDX module identity. */
export class TdxModuleMismatchError extends AttestationError {
  static readonly code = 'TDX_MODULE_MISMATCH';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TDX_MODULE_MISMATCH', message, options);
  }
}
