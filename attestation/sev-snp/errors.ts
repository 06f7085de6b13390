import { defineErrorCode } from '../errors.ts';

/**
 * The VCEK/VLEK certificate is valid but not for this report: its hwID is not
 * the report's CHIP_ID, or its TCB extensions are not the report's
 * REPORTED_TCB, or its product does not match the report's CPUID.
 */
export class SnpKeyMismatchError extends defineErrorCode('SNP_KEY_MISMATCH') {}

/** The report's product or stepping is not the one the caller expects (go-sev-guest's `Product` check). */
export class SnpProductMismatchError extends defineErrorCode('SNP_PRODUCT_MISMATCH') {}
