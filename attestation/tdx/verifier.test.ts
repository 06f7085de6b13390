import { describe, expect, it } from 'vitest';
import { AttestationError } from '../errors.ts';
import { parsePolicy, type PolicyInput } from '../policy.ts';
import { parseDcapQuote, parseTdReportBody } from './abi.ts';
import { dcapSamples } from './fixtures.ts';
import { tdxVerifier } from './index.ts';
import { validateTcbStatus, validateTdReport } from './validate.ts';
import { quoteMeasurements } from './verify.ts';
import { codeOf } from '../testkit.ts';


const sample = (prefix: string) => dcapSamples().find((s) => s.name.startsWith(prefix))!;

/** A policy that allows exactly the sample's own measurements. */
function policyFor(quote: Uint8Array, extra: Partial<PolicyInput> = {}, tdxExtra: Record<string, unknown> = {}) {
  const m = quoteMeasurements(parseDcapQuote(quote));
  return parsePolicy({
    tdx: {
      measurements: [
        {
          mrtd: m.mrtd,
          rtmr0: m.rtmr0,
          rtmr1: m.rtmr1,
          rtmr2: m.rtmr2,
          rtmr3: m.rtmr3,
          mrseam: m.mrseam,
          mrconfigid: m.mrconfigid,
          mrowner: m.mrowner,
          mrownerconfig: m.mrownerconfig,
        },
      ],
      ...tdxExtra,
    },
    ...extra,
  });
}

describe('tdxVerifier (admission)', () => {
  it('accepts a real TDX quote whose measurements the policy allows', async () => {
    const s = sample('dcap-qvl tdx_quote');
    const policy = policyFor(s.quote);
    const v = await tdxVerifier.verify(s.quote, s.collateral, { policy, now: s.now });
    expect(v.kind).toBe('tdx');
    expect(v.tcbStatus).toBe('UpToDate');
    expect(v.advisoryIds).toEqual([]);
    expect(v.reportData.length).toBe(64);
    expect(v.expiresAt).toBe(s.window![1]);
    expect(v.details?.fmspc).toBe('b0c06f000000');
    expect(v.measurements.mrtd).toBe(quoteMeasurements(parseDcapQuote(s.quote)).mrtd);
  });

  it('accepts the teep and v5 TD1.5 samples under their own measurements', async () => {
    for (const s of [sample('teep-agpl'), sample('go-tdx-guest quote_v5')]) {
      const v = await tdxVerifier.verify(s.quote, s.collateral, { policy: policyFor(s.quote), now: s.now });
      expect(v.tcbStatus).toBe('UpToDate');
    }
  });

  it('rejects a different MRTD with MEASUREMENT_NOT_ALLOWED', async () => {
    const s = sample('dcap-qvl tdx_quote');
    const base = policyFor(s.quote);
    const policy = parsePolicy({ tdx: { measurements: [{ ...base.tdx!.measurements[0]!, mrtd: 'ab'.repeat(48) }] } });
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy, now: s.now }))).toBe('MEASUREMENT_NOT_ALLOWED');
    const rtmr = parsePolicy({ tdx: { measurements: [{ ...base.tdx!.measurements[0]!, rtmr3: '00'.repeat(47) + '01' }] } });
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: rtmr, now: s.now }))).toBe('MEASUREMENT_NOT_ALLOWED');
  });

  it('fails closed without collateral, and for SGX quotes, and without a tdx policy section', async () => {
    const s = sample('dcap-qvl tdx_quote');
    const policy = policyFor(s.quote);
    expect(await codeOf(tdxVerifier.verify(s.quote, undefined, { policy, now: s.now }))).toBe('COLLATERAL_UNAVAILABLE');
    const sgx = sample('dcap-qvl sgx_quote');
    expect(await codeOf(tdxVerifier.verify(sgx.quote, sgx.collateral, { policy, now: sgx.now }))).toBe('UNSUPPORTED_FORMAT');
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: parsePolicy({}), now: s.now }))).toBe('KIND_NOT_ALLOWED');
  });

  it('applies policy.tcb: OutOfDate is rejected by default and accepted with its advisories allowed', async () => {
    const s = sample('automata tdx_quote_v4');
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: policyFor(s.quote), now: s.now }))).toBe('TCB_STATUS_REJECTED');
    const partial = policyFor(s.quote, { tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate'], allowedAdvisories: ['INTEL-SA-00960'] } });
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: partial, now: s.now }))).toBe('TCB_STATUS_REJECTED');
    const all = policyFor(s.quote, {
      tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate'], allowedAdvisories: ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986'] },
    });
    const v = await tdxVerifier.verify(s.quote, s.collateral, { policy: all, now: s.now });
    expect(v.tcbStatus).toBe('OutOfDate');
  });

  it('TCB_NO_MATCH samples are rejected for admission', async () => {
    const s = sample('dcap-qvl tdx_quote_outdated');
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: policyFor(s.quote), now: s.now }))).toBe('TCB_NO_MATCH');
  });

  it('uses policy.maxCollateralAgeSeconds', async () => {
    const s = sample('dcap-qvl tdx_quote');
    const policy = policyFor(s.quote, { maxCollateralAgeSeconds: 3600 });
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy, now: s.now }))).toBe('COLLATERAL_EXPIRED');
  });

  it('rejects the Alibaba TD1.5 quote bound to a service TD (MRSERVICETD != 0)', async () => {
    const s = sample('automata alibaba');
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: policyFor(s.quote), now: s.now }))).toBe('ATTRIBUTES_REJECTED');
  });

  it('TD attributes: default allows only SEPT_VE_DISABLE; policy lists exact values; XFAM lists', async () => {
    const s = sample('dcap-qvl tdx_quote');
    const ok = policyFor(s.quote, {}, { tdAttributes: ['0000001000000000'], xfam: ['e702060000000000'] });
    await expect(tdxVerifier.verify(s.quote, s.collateral, { policy: ok, now: s.now })).resolves.toBeTruthy();
    const badAttr = policyFor(s.quote, {}, { tdAttributes: ['0000000000000000'] });
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: badAttr, now: s.now }))).toBe('ATTRIBUTES_REJECTED');
    const badXfam = policyFor(s.quote, {}, { xfam: ['e700060000000000'] });
    expect(await codeOf(tdxVerifier.verify(s.quote, s.collateral, { policy: badXfam, now: s.now }))).toBe('ATTRIBUTES_REJECTED');
  });
});

describe('validateTdReport', () => {
  const q = parseDcapQuote(sample('dcap-qvl tdx_quote').quote);
  const report = q.body.tee === 'tdx' ? q.body.report : undefined!;
  const measurements = quoteMeasurements(q);
  const tdx = policyFor(sample('dcap-qvl tdx_quote').quote).tdx!;
  const withAttrs = (attrs: number[]) => {
    const raw = report.raw.slice();
    raw.set(attrs, 120);
    return parseTdReportBody(raw);
  };
  const codeSync = (f: () => void) => {
    try {
      f();
      return 'PASSED';
    } catch (e) {
      return (e as AttestationError).code;
    }
  };

  it('accepts the real report', () => {
    expect(codeSync(() => validateTdReport(report, measurements, tdx))).toBe('PASSED');
  });
  it('DEBUG bit => DEBUG_ENABLED, even when policy lists that attribute value', () => {
    expect(codeSync(() => validateTdReport(withAttrs([1, 0, 0, 0x10, 0, 0, 0, 0]), measurements, tdx))).toBe('DEBUG_ENABLED');
    const listed = { ...tdx, tdAttributes: ['0100001000000000'] };
    expect(codeSync(() => validateTdReport(withAttrs([1, 0, 0, 0x10, 0, 0, 0, 0]), measurements, listed))).toBe('DEBUG_ENABLED');
  });
  it('other attribute bits => ATTRIBUTES_REJECTED by default', () => {
    expect(codeSync(() => validateTdReport(withAttrs([0, 0, 0, 0x50, 0, 0, 0, 0]), measurements, tdx))).toBe('ATTRIBUTES_REJECTED');
    expect(codeSync(() => validateTdReport(withAttrs([0, 0, 0, 0, 0, 0, 0, 0x80]), measurements, tdx))).toBe('ATTRIBUTES_REJECTED');
    expect(codeSync(() => validateTdReport(withAttrs([0, 0, 0, 0, 0, 0, 0, 0]), measurements, tdx))).toBe('PASSED');
  });
});

describe('validateTcbStatus', () => {
  const tcb = { acceptedStatuses: ['UpToDate', 'SWHardeningNeeded'] as const, allowedAdvisories: ['INTEL-SA-00615'] };
  const t = tcb as unknown as Parameters<typeof validateTcbStatus>[2];
  it('accepts listed statuses with allowed advisories, rejects the rest', () => {
    expect(() => validateTcbStatus('UpToDate', [], t)).not.toThrow();
    expect(() => validateTcbStatus('SWHardeningNeeded', ['INTEL-SA-00615'], t)).not.toThrow();
    expect(() => validateTcbStatus('SWHardeningNeeded', ['INTEL-SA-00289'], t)).toThrow(/INTEL-SA-00289/);
    expect(() => validateTcbStatus('OutOfDate', [], t)).toThrow(/not accepted/);
    expect(() => validateTcbStatus('Revoked', [], t)).toThrow(AttestationError);
  });
});
