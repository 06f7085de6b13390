/**
 * DCAP *validate* step: checks verified claims against the sealgate policy.
 * Nothing here does crypto; it runs only on claims `verify.ts` produced.
 */
import {
  AttributesRejectedError,
  DebugEnabledError,
  KindNotAllowedError,
  MeasurementNotAllowedError,
  TcbStatusRejectedError,
  UnsupportedFormatError,
} from '../errors.ts';
import { matchesMeasurementSet, type Policy } from '../policy.ts';
import { toHex } from '../util/bytes.ts';
import type { TdReportBody } from './abi.ts';
import type { DcapVerifiedClaims } from './verify.ts';

/** TD_ATTRIBUTES bit 0: the TD is debuggable (its memory and state are readable by the host). */
export const TD_ATTRIBUTE_DEBUG_BIT = 0;
/** TD_ATTRIBUTES bit 28: SEPT_VE_DISABLE, the one bit allowed by default. */
export const TD_ATTRIBUTE_SEPT_VE_DISABLE_BIT = 28;

/** Reads bit `n` of a little-endian 8-byte field. */
function bit(field: Uint8Array, n: number): boolean {
  return ((field[n >> 3]! >> (n & 7)) & 1) === 1;
}

/**
 * TCB status against `policy.tcb`: the status must be accepted, and a
 * non-UpToDate status may carry only allowed advisories.
 * Throws `TcbStatusRejectedError`.
 */
export function validateTcbStatus(status: string, advisoryIds: readonly string[], tcb: Policy['tcb']): void {
  if (!(tcb.acceptedStatuses as readonly string[]).includes(status)) {
    throw new TcbStatusRejectedError(`TCB status ${status} is not accepted (accepted: ${tcb.acceptedStatuses.join(', ')})`);
  }
  if (status !== 'UpToDate') {
    const bad = advisoryIds.filter((a) => !tcb.allowedAdvisories.includes(a));
    if (bad.length) throw new TcbStatusRejectedError(`TCB status ${status} carries advisories not allowed by policy: ${bad.join(', ')}`);
  }
}

/**
 * TD report fields against `policy.tdx`:
 * - DEBUG bit => `DebugEnabledError`;
 * - TD_ATTRIBUTES must be one of `tdAttributes` (hex of the 8 bytes in quote
 *   order), or, when absent, zero except SEPT_VE_DISABLE => `AttributesRejectedError`;
 * - XFAM must be one of `xfam` when given => `AttributesRejectedError`;
 * - a non-zero MRSERVICETD (TD1.5 migration/service TD binding) => `AttributesRejectedError`,
 *   because the policy has no way to allow a service TD;
 * - measurements must match one allowed set => `MeasurementNotAllowedError`.
 */
export function validateTdReport(report: TdReportBody, measurements: Record<string, string>, tdx: NonNullable<Policy['tdx']>): void {
  const attrs = report.tdAttributes;
  if (bit(attrs, TD_ATTRIBUTE_DEBUG_BIT)) throw new DebugEnabledError('TD is debuggable (TD_ATTRIBUTES.DEBUG is set)');
  const attrsHex = toHex(attrs);
  if (tdx.tdAttributes) {
    if (!tdx.tdAttributes.includes(attrsHex)) throw new AttributesRejectedError(`TD_ATTRIBUTES ${attrsHex} are not allowed by policy`);
  } else {
    for (let n = 0; n < 64; n++) {
      if (n !== TD_ATTRIBUTE_SEPT_VE_DISABLE_BIT && bit(attrs, n)) {
        throw new AttributesRejectedError(`TD_ATTRIBUTES ${attrsHex} set bit ${n}; only SEPT_VE_DISABLE is allowed by default`);
      }
    }
  }
  const xfamHex = toHex(report.xfam);
  if (tdx.xfam && !tdx.xfam.includes(xfamHex)) throw new AttributesRejectedError(`XFAM ${xfamHex} is not allowed by policy`);
  if (report.mrServiceTd && report.mrServiceTd.some((b) => b !== 0)) {
    throw new AttributesRejectedError('TD is bound to a migration/service TD (MRSERVICETD is not zero)');
  }
  if (!matchesMeasurementSet(measurements, tdx.measurements)) {
    throw new MeasurementNotAllowedError(`TD measurements (mrtd ${measurements.mrtd}) match no allowed set`);
  }
}

/** Validates verified TDX claims against the whole policy (TD report, then TCB status). */
export function validateTdxClaims(claims: DcapVerifiedClaims, policy: Policy): void {
  if (claims.quote.body.tee !== 'tdx') throw new UnsupportedFormatError('an SGX quote is not TDX evidence');
  if (!policy.tdx) throw new KindNotAllowedError('policy has no tdx section');
  validateTdReport(claims.quote.body.report, claims.measurements, policy.tdx);
  validateTcbStatus(claims.status, claims.advisoryIds, policy.tcb);
}
