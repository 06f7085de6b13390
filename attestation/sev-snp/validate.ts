import {
  AttributesRejectedError,
  DebugEnabledError,
  KindNotAllowedError,
  MeasurementNotAllowedError,
  TcbStatusRejectedError,
} from '../errors.ts';
import { matchesMeasurementSet, type Policy } from '../policy.ts';
import { toHex } from '../util/bytes.ts';
import { SnpGuestPolicyBits, SnpPlatformInfoBits, type SnpProduct, type SnpReport, type SnpTcb } from './abi.ts';

/** TCB status an SEV-SNP report gets once its chain and TCB checks pass (AMD publishes no TCB levels). */
export const SNP_TCB_STATUS = 'UpToDate';

/**
 * Checks a *verified* report against `policy.sevSnp`. Throws:
 * - `KindNotAllowedError` when the policy has no `sevSnp` section (fail closed);
 * - `DebugEnabledError` when guest policy DEBUG (bit 19) is set;
 * - `AttributesRejectedError` for MIGRATE_MA (bit 18) without `allowMigrationAgent`,
 *   SMT (guest policy bit 16 or PLATFORM_INFO.SMT_EN) with `allowSmt: false`,
 *   and a VMPL not in `vmpl`;
 * - `TcbStatusRejectedError` when REPORTED_TCB is below `minTcb` (fmc only on Turin)
 *   or the policy does not accept `UpToDate`;
 * - `MeasurementNotAllowedError` when {measurement, hostData} matches no allowed set.
 */
export function validateSnpReport(report: SnpReport, reportedTcb: SnpTcb, product: SnpProduct, policy: Policy): void {
  const snp = policy.sevSnp;
  if (!snp) throw new KindNotAllowedError('policy has no sevSnp section');
  if (report.policy & SnpGuestPolicyBits.DEBUG) {
    throw new DebugEnabledError('SEV-SNP guest policy allows debugging (DEBUG bit 19 set)');
  }
  if (report.policy & SnpGuestPolicyBits.MIGRATE_MA && !snp.allowMigrationAgent) {
    throw new AttributesRejectedError('SEV-SNP guest policy allows a migration agent (MIGRATE_MA) and policy forbids it');
  }
  if (!snp.allowSmt) {
    if (report.policy & SnpGuestPolicyBits.SMT) {
      throw new AttributesRejectedError('SEV-SNP guest policy allows SMT and policy forbids it');
    }
    if (report.platformInfo & SnpPlatformInfoBits.SMT_EN) {
      throw new AttributesRejectedError('SEV-SNP platform has SMT enabled and policy forbids it');
    }
  }
  if (!snp.vmpl.includes(report.vmpl)) {
    throw new AttributesRejectedError(`SEV-SNP report is from VMPL ${report.vmpl}, policy allows ${snp.vmpl.join(',')}`);
  }
  const min = snp.minTcb;
  if (min) {
    const low: string[] = [];
    if (reportedTcb.bootloader < min.bootloader) low.push(`bootloader ${reportedTcb.bootloader} < ${min.bootloader}`);
    if (reportedTcb.tee < min.tee) low.push(`tee ${reportedTcb.tee} < ${min.tee}`);
    if (reportedTcb.snp < min.snp) low.push(`snp ${reportedTcb.snp} < ${min.snp}`);
    if (reportedTcb.microcode < min.microcode) low.push(`microcode ${reportedTcb.microcode} < ${min.microcode}`);
    if (product === 'Turin' && min.fmc !== undefined && (reportedTcb.fmc ?? 0) < min.fmc) {
      low.push(`fmc ${reportedTcb.fmc ?? 0} < ${min.fmc}`);
    }
    if (low.length) throw new TcbStatusRejectedError(`SEV-SNP reported TCB below policy minimum: ${low.join(', ')}`);
  }
  if (!policy.tcb.acceptedStatuses.includes(SNP_TCB_STATUS)) {
    throw new TcbStatusRejectedError(`policy does not accept TCB status ${SNP_TCB_STATUS}`);
  }
  const measurements = { measurement: toHex(report.measurement), hostData: toHex(report.hostData) };
  if (!matchesMeasurementSet(measurements, snp.measurements)) {
    throw new MeasurementNotAllowedError(
      `SEV-SNP measurement ${measurements.measurement} (host data ${measurements.hostData}) is not allowed`,
    );
  }
}
