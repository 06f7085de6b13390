import { describe, expect, it } from 'vitest';
import { parsePolicy, type PolicyInput } from '../policy.ts';
import { toHex } from '../util/bytes.ts';
import { decodeTcb, parseSnpReport, SnpGuestPolicyBits } from './abi.ts';
import { sevSnpVerifier } from './index.ts';
import { validateSnpReport } from './validate.ts';
import { verifySnpReport } from './verify.ts';
import { codeOf } from '../testkit.ts';
import { NOW_2025, NOW_GENOA, goReport, goVcek, virteeReport, virteeVcek, genoaReport, genoaVcek , unix } from './samples.testkit.ts';


const measurementOf = (bytes: Uint8Array) => toHex(parseSnpReport(bytes).measurement);
const OTHER_MEASUREMENT = 'ab'.repeat(48);

function policyFor(report: Uint8Array, sevSnp: Partial<NonNullable<PolicyInput['sevSnp']>> = {}, extra: PolicyInput = {}) {
  return parsePolicy({
    ...extra,
    sevSnp: { measurements: [{ measurement: measurementOf(report) }], ...sevSnp },
  });
}


describe('sevSnpVerifier with a policy', () => {
  it('accepts the virtee Milan report under a policy built from its own measurement', async () => {
    const policy = policyFor(virteeReport());
    const v = await sevSnpVerifier.verify(virteeReport(), { vcek: virteeVcek() }, { policy, now: NOW_2025 });
    expect(v.kind).toBe('sev-snp');
    expect(v.tcbStatus).toBe('UpToDate');
    expect(v.advisoryIds).toEqual([]);
    expect(v.reportData.length).toBe(64);
    expect(toHex(v.reportData)).toBe(toHex(virteeReport().subarray(0x50, 0x90)));
    expect(v.measurements).toEqual({ measurement: measurementOf(virteeReport()), hostData: '00'.repeat(32) });
    // Capped by the policy's maxVerdictSeconds (default 3600) well before the VCEK's notAfter.
    expect(v.expiresAt).toBe(NOW_2025 + 3600);
    expect(() => JSON.stringify(v.details)).not.toThrow();
  });

  it('caps expiresAt at the earliest certificate notAfter', async () => {
    const policy = policyFor(genoaReport(), {}, { maxVerdictSeconds: 10 * 365 * 24 * 3600 });
    const v = await sevSnpVerifier.verify(genoaReport(), { vcek: genoaVcek() }, { policy, now: NOW_GENOA });
    expect(v.expiresAt).toBe(unix('2033-06-28T02:12:47Z'));
  });

  it('rejects another measurement (MEASUREMENT_NOT_ALLOWED), and a hostData mismatch', async () => {
    const policy = parsePolicy({ sevSnp: { measurements: [{ measurement: OTHER_MEASUREMENT }] } });
    expect(await codeOf(sevSnpVerifier.verify(virteeReport(), { vcek: virteeVcek() }, { policy, now: NOW_2025 }))).toBe(
      'MEASUREMENT_NOT_ALLOWED',
    );
    const withHost = policyFor(virteeReport(), {
      measurements: [{ measurement: measurementOf(virteeReport()), hostData: '11'.repeat(32) }],
    });
    expect(
      await codeOf(sevSnpVerifier.verify(virteeReport(), { vcek: virteeVcek() }, { policy: withHost, now: NOW_2025 })),
    ).toBe('MEASUREMENT_NOT_ALLOWED');
    const hostOk = policyFor(virteeReport(), {
      measurements: [
        { measurement: OTHER_MEASUREMENT },
        { measurement: measurementOf(virteeReport()), hostData: '00'.repeat(32) },
      ],
    });
    await expect(
      sevSnpVerifier.verify(virteeReport(), { vcek: virteeVcek() }, { policy: hostOk, now: NOW_2025 }),
    ).resolves.toBeDefined();
  });

  it('rejects the go-sev-guest report: its guest policy 0xb0000 has DEBUG set (DEBUG_ENABLED)', async () => {
    const policy = policyFor(goReport());
    expect(await codeOf(sevSnpVerifier.verify(goReport(), { vcek: goVcek() }, { policy, now: NOW_2025 }))).toBe(
      'DEBUG_ENABLED',
    );
    // The same report verifies without a policy (signature and chain only): the SOURCES.md outcome.
    await expect(verifySnpReport(goReport(), { vcek: goVcek() }, { now: NOW_2025 })).resolves.toBeDefined();
  });

  it('rejects SMT when allowSmt is false, a VMPL outside the list, and a TCB below minTcb', async () => {
    const run = (policy: ReturnType<typeof parsePolicy>) =>
      codeOf(sevSnpVerifier.verify(genoaReport(), { vcek: genoaVcek() }, { policy, now: NOW_GENOA }));
    expect(await run(policyFor(genoaReport(), { allowSmt: false }))).toBe('ATTRIBUTES_REJECTED');
    expect(await run(policyFor(genoaReport(), { vmpl: [1, 2] }))).toBe('ATTRIBUTES_REJECTED');
    expect(await run(policyFor(genoaReport(), { vmpl: [0, 1] }))).toBe('PASSED');
    // Genoa report TCB: bl 10, tee 0, snp 23, ucode 84.
    expect(await run(policyFor(genoaReport(), { minTcb: { bootloader: 10, tee: 0, snp: 23, microcode: 84 } }))).toBe(
      'PASSED',
    );
    expect(await run(policyFor(genoaReport(), { minTcb: { bootloader: 10, tee: 0, snp: 24, microcode: 84 } }))).toBe(
      'TCB_STATUS_REJECTED',
    );
    expect(await run(policyFor(genoaReport(), { minTcb: { bootloader: 10, tee: 0, snp: 23, microcode: 85 } }))).toBe(
      'TCB_STATUS_REJECTED',
    );
    // fmc applies to Turin only.
    expect(
      await run(policyFor(genoaReport(), { minTcb: { bootloader: 0, tee: 0, snp: 0, microcode: 0, fmc: 5 } })),
    ).toBe('PASSED');
    expect(await run(policyFor(genoaReport(), {}, { tcb: { acceptedStatuses: ['OutOfDate'] } }))).toBe(
      'TCB_STATUS_REJECTED',
    );
  });

  it('refuses when the policy has no sevSnp section (KIND_NOT_ALLOWED)', async () => {
    const policy = parsePolicy({});
    expect(await codeOf(sevSnpVerifier.verify(genoaReport(), { vcek: genoaVcek() }, { policy, now: NOW_GENOA }))).toBe(
      'KIND_NOT_ALLOWED',
    );
  });
});

describe('validateSnpReport on report fields', () => {
  const base = () => parseSnpReport(virteeReport());
  const tcb = () => decodeTcb(base().reportedTcb, 'Milan');

  it('rejects MIGRATE_MA unless allowMigrationAgent', () => {
    const r = base();
    r.policy |= SnpGuestPolicyBits.MIGRATE_MA;
    expect(() => validateSnpReport(r, tcb(), 'Milan', policyFor(virteeReport()))).toThrow(
      expect.objectContaining({ code: 'ATTRIBUTES_REJECTED' }),
    );
    expect(() =>
      validateSnpReport(r, tcb(), 'Milan', policyFor(virteeReport(), { allowMigrationAgent: true })),
    ).not.toThrow();
  });

  it('rejects SMT enabled on the platform even when the guest policy does not ask for it', () => {
    const r = base();
    r.policy &= ~SnpGuestPolicyBits.SMT;
    expect(r.platformInfo & 1n).toBe(1n);
    expect(() => validateSnpReport(r, tcb(), 'Milan', policyFor(virteeReport(), { allowSmt: false }))).toThrow(
      expect.objectContaining({ code: 'ATTRIBUTES_REJECTED' }),
    );
    r.platformInfo = 0n;
    expect(() => validateSnpReport(r, tcb(), 'Milan', policyFor(virteeReport(), { allowSmt: false }))).not.toThrow();
  });

  it('checks fmc against minTcb on Turin', () => {
    const r = base();
    const turinTcb = { raw: 0n, fmc: 1, bootloader: 5, tee: 5, snp: 5, microcode: 5 };
    const min = { bootloader: 5, tee: 5, snp: 5, microcode: 5 };
    expect(() => validateSnpReport(r, turinTcb, 'Turin', policyFor(virteeReport(), { minTcb: { ...min, fmc: 1 } }))).not.toThrow();
    expect(() => validateSnpReport(r, turinTcb, 'Turin', policyFor(virteeReport(), { minTcb: { ...min, fmc: 2 } }))).toThrow(
      expect.objectContaining({ code: 'TCB_STATUS_REJECTED' }),
    );
  });

  it('rejects DEBUG before anything else', () => {
    const r = base();
    r.policy |= SnpGuestPolicyBits.DEBUG;
    expect(() => validateSnpReport(r, tcb(), 'Milan', policyFor(virteeReport()))).toThrow(
      expect.objectContaining({ code: 'DEBUG_ENABLED' }),
    );
  });
});
