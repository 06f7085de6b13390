/**
 * Intel DCAP (TDX and SGX) evidence: parse (`abi.ts`), verify (`verify.ts`),
 * validate (`validate.ts`), collateral shapes (`collateral.ts`).
 *
 * - `tdxVerifier`: the `TeeVerifier` for admission; fails closed without collateral.
 * - `verifyDcapQuote`: lower-level, policy-free verification for auditors/CLI (SGX too).
 * - `verifyDcapQuoteWithoutCollateral`: signatures and PCK chain only, never for admission.
 */
import { KindNotAllowedError, UnsupportedFormatError } from '../errors.ts';
import type { TeeVerdict, TeeVerifier, VerifyContext } from '../types.ts';
import { toHex } from '../util/bytes.ts';
import { parseDcapQuote } from './abi.ts';
import { normalizeCollateral } from './collateral.ts';
import { validateTdxClaims } from './validate.ts';
import { verifyParsedDcapQuote } from './verify.ts';

export {
  parseDcapQuote,
  parseSgxReportBody,
  parseTdReportBody,
  type DcapQuote,
  type QuoteHeader,
  type QuoteBody,
  type SgxReportBody,
  type TdReportBody,
} from './abi.ts';
export {
  normalizeCollateral,
  fromQuoteCollateralV3,
  intelCollateralFromPcs,
  splitSignedJsonBody,
  isIntelCollateral,
  isQuoteCollateralV3,
  type IntelCollateral,
  type QuoteCollateralV3,
} from './collateral.ts';
export {
  verifyDcapQuote,
  verifyParsedDcapQuote,
  verifyDcapQuoteWithoutCollateral,
  verifyIntelCollateral,
  verifyPckChain,
  quoteMeasurements,
  clearDcapCaches,
  type DcapVerifyOptions,
  type DcapVerifiedClaims,
  type DcapSignatureResult,
  type VerifiedCollateral,
  type VerifiedPckChain,
} from './verify.ts';
export { validateTdxClaims, validateTdReport, validateTcbStatus } from './validate.ts';
export {
  parseTcbInfo,
  parseQeIdentity,
  parsePckExtensions,
  matchPlatformLevel,
  matchQeIdentity,
  matchTdxModule,
  convergeStatus,
  TCB_STATUSES,
  type TcbInfo,
  type QeIdentity,
  type PckExtensions,
  type IntelTcbStatus,
} from './tcb.ts';
export { QeIdentityMismatchError, TdxModuleMismatchError } from './errors.ts';
export { INTEL_SGX_ROOT_CA_DER, INTEL_SGX_ROOT_CA_SHA256, intelSgxRootCa } from './root.ts';

/**
 * Verifies Intel TDX quotes (v4/v5, TD1.0/TD1.5) for admission: full DCAP
 * verification with the given collateral, then policy validation. Missing
 * collateral => `CollateralUnavailableError`; SGX quotes => `UnsupportedFormatError`.
 *
 * @example
 * const verdict = await tdxVerifier.verify(quoteBytes, collateralJson, { policy, now });
 */
export const tdxVerifier: TeeVerifier = {
  kind: 'tdx',
  async verify(evidence: Uint8Array, collateral: unknown, ctx: VerifyContext): Promise<TeeVerdict> {
    const { policy, now } = ctx;
    if (!policy.tdx) throw new KindNotAllowedError('policy has no tdx section');
    const quote = parseDcapQuote(evidence);
    if (quote.body.tee !== 'tdx') throw new UnsupportedFormatError('an SGX quote is not TDX evidence');
    const coll = normalizeCollateral(collateral); // fails closed (COLLATERAL_UNAVAILABLE) when absent
    const claims = await verifyParsedDcapQuote(quote, coll, { now, maxCollateralAgeSeconds: policy.maxCollateralAgeSeconds });
    validateTdxClaims(claims, policy);
    const report = quote.body.report;
    return {
      kind: 'tdx',
      reportData: claims.reportData,
      measurements: claims.measurements,
      tcbStatus: claims.status,
      advisoryIds: claims.advisoryIds,
      expiresAt: claims.expiresAt,
      details: {
        fmspc: claims.fmspc,
        quoteVersion: quote.header.version,
        bodyType: quote.body.type,
        teeTcbSvn: toHex(report.teeTcbSvn),
        tdAttributes: toHex(report.tdAttributes),
        xfam: toHex(report.xfam),
        platformStatus: claims.platform.status,
        qeStatus: claims.qe.status,
        ...(claims.tdxModule ? { tdxModuleStatus: claims.tdxModule.status } : {}),
        tcbEvaluationDataNumber: claims.tcbEvaluationDataNumber,
        validFrom: claims.validFrom,
      },
    };
  },
};
