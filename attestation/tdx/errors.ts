/** Intel DCAP-specific typed errors, beyond those in `../errors.ts`. */
import { defineErrorCode } from '../errors.ts';

/** The QE report does not match Intel's QE Identity (MRSIGNER, ISVPRODID, masked MISCSELECT/ATTRIBUTES). */
export class QeIdentityMismatchError extends defineErrorCode('QE_IDENTITY_MISMATCH') {}

/** The TDX module (MRSIGNERSEAM / SEAM_ATTRIBUTES) does not match the TCB Info's TDX module identity. */
export class TdxModuleMismatchError extends defineErrorCode('TDX_MODULE_MISMATCH') {}
