/**
 * AMD SEV-SNP: parse (`abi.ts`), verify signature and chains (`verify.ts`),
 * validate against policy (`validate.ts`). Runtime-agnostic (Web Crypto only).
 */
import { KindNotAllowedError } from '../errors.ts';
import type { TeeVerdict, TeeVerifier, VerifyContext } from '../types.ts';
import { verifySnpReport } from './verify.ts';

export {
  decodeTcb,
  encodeTcb,
  parseSnpReport,
  productFromCpuid,
  signingKeyOf,
  SNP_REPORT_SIZE,
  SNP_SIGNED_LENGTH,
  SnpGuestPolicyBits,
  SnpPlatformInfoBits,
  type SnpProduct,
  type SnpReport,
  type SnpSigningKey,
  type SnpTcb,
} from './abi.ts';
export { normalizeSnpCollateral, snpCertsOf, type SnpCollateral, type SnpCertInput } from './collateral.ts';
export { SnpKeyMismatchError, SnpProductMismatchError } from './errors.ts';
export { validateSnpReport, SNP_TCB_STATUS } from './validate.ts';
export { verifySnpReport, clearSnpCaches, type SnpVerifyOptions, type SnpVerifyResult } from './verify.ts';
export { PINNED_AMD_CERTS } from './roots.ts';

/**
 * The SEV-SNP `TeeVerifier`: evidence is the raw 1184-byte report, collateral
 * an `SnpCollateral` (or a shape `normalizeSnpCollateral` accepts). Refuses
 * outright when the policy has no `sevSnp` section.
 *
 * @example
 * const verify = createBundleVerifier({ tee: [sevSnpVerifier], gpu: [] });
 */
export const sevSnpVerifier: TeeVerifier = {
  kind: 'sev-snp',
  async verify(evidence: Uint8Array, collateral: unknown, ctx: VerifyContext): Promise<TeeVerdict> {
    if (!ctx.policy.sevSnp) throw new KindNotAllowedError('policy has no sevSnp section');
    const { verdict } = await verifySnpReport(evidence, collateral, { now: ctx.now, policy: ctx.policy });
    return verdict;
  },
};
export {
  verifySnpCertChain,
  verifySnpCaChain,
  type SnpCertChainResult,
  type SnpTrustedRoots,
  type SnpTrustedRootsByProduct,
} from './verify.ts';
