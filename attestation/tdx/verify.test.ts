import { describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { parseDcapQuote } from './abi.ts';
import { fromQuoteCollateralV3, type IntelCollateral } from './collateral.ts';
import { dcapQvlTdxCollateral, dcapSamples, iso, parseOnlySamples, teepCollateral } from './fixtures.ts';
import { verifyDcapQuote, verifyDcapQuoteWithoutCollateral } from './verify.ts';
import { parseTcbInfo, matchPlatformLevel, matchTdxModule, parsePckExtensions } from './tcb.ts';
import { splitSignedJsonBody } from './collateral.ts';
import { certificateKey, parseCertificate, verifyP256Raw } from '../x509/index.ts';
import { utf8 } from '../util/bytes.ts';
import { codeOf } from '../testkit.ts';


describe('Intel DCAP outcomes from SOURCES.md', () => {
  for (const s of dcapSamples()) {
    it(`${s.name}: ${'error' in s.expect ? s.expect.error : s.expect.status}`, async () => {
      if ('error' in s.expect) {
        expect(await codeOf(verifyDcapQuote(s.quote, s.collateral, { now: s.now }))).toBe(s.expect.error);
        return;
      }
      const r = await verifyDcapQuote(s.quote, s.collateral, { now: s.now });
      expect(r.tee).toBe(s.tee);
      expect(r.status).toBe(s.expect.status);
      expect(r.advisoryIds).toEqual(s.expect.advisories);
      expect(r.qe.status).toBe('UpToDate');
      if (s.tee === 'tdx') expect(r.tdxModule?.status).toBe('UpToDate');
      expect([r.validFrom, r.expiresAt]).toEqual(s.window);
    });
  }

  it('dcap-qvl tdx_quote: details (FMSPC, measurements, report data)', async () => {
    const s = dcapSamples()[0]!;
    const r = await verifyDcapQuote(s.quote, s.collateral, { now: s.now });
    expect(r.fmspc).toBe('b0c06f000000');
    expect(r.measurements.mrtd).toMatch(/^[0-9a-f]{96}$/);
    expect(Object.keys(r.measurements).sort()).toEqual(
      ['mrconfigid', 'mrowner', 'mrownerconfig', 'mrseam', 'mrsignerseam', 'mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'].sort(),
    );
    expect(r.reportData.length).toBe(64);
    expect(r.tcbEvaluationDataNumber).toBe(17);
  });

  it('SGX quotes give SGX measurements', async () => {
    const s = dcapSamples().find((x) => x.tee === 'sgx')!;
    const r = await verifyDcapQuote(s.quote, s.collateral, { now: s.now });
    expect(Object.keys(r.measurements).sort()).toEqual(['mrenclave', 'mrsigner']);
    expect(r.fmspc).toBe('00a067110000');
  });

  it('parse-only samples: signatures and chain pass, no TCB level matches dcap-qvl collateral', async () => {
    for (const s of parseOnlySamples()) {
      const q = parseDcapQuote(s.quote);
      expect(q.header.version).toBe(4);
      const now = 1752919234;
      const r = await verifyDcapQuoteWithoutCollateral(s.quote, { now });
      expect(r.fmspc).toBe('b0c06f000000');
      expect(await codeOf(verifyDcapQuote(s.quote, dcapQvlTdxCollateral(), { now }))).toBe('TCB_NO_MATCH');
    }
  });

  it('go-tdx-guest: SPR and v5 quotes pass signature + chain without collateral at the source times', async () => {
    const spr = await verifyDcapQuoteWithoutCollateral(readSample('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat'), { now: 1688173200 });
    expect(spr.fmspc).toBe('50806f000000');
    const v5 = await verifyDcapQuoteWithoutCollateral(readSample('tdx/go-tdx-guest/quote_v5_sample.dat'), { now: iso('2026-02-03T01:00:00Z') });
    expect(v5.fmspc).toBe('90c06f000000');
    expect(v5.quote.body.type).toBe(3);
  });

  it('go-tdx-guest v5 sample against sample_tcbinfo_response_v5 (signed by the 2025 TCB Signing cert): UpToDate, TDX_01 UpToDate', async () => {
    const { json, signature } = splitSignedJsonBody(readSampleText('tdx/go-tdx-guest/sample_tcbinfo_response_v5'), 'tcbInfo');
    const signer = parseCertificate(readSample('intel-common/automata/tcbSigningDer.der'));
    const key = await certificateKey(signer, { kind: 'ecdsa', hash: 'SHA-256' });
    expect(await verifyP256Raw(key!, signature, utf8(json))).toBe(true);
    const info = parseTcbInfo(json);
    const v = await verifyDcapQuoteWithoutCollateral(readSample('tdx/go-tdx-guest/quote_v5_sample.dat'), { now: iso('2026-02-03T01:00:00Z') });
    const td = v.quote.body.tee === 'tdx' ? v.quote.body.report : undefined;
    expect(matchPlatformLevel(info, parsePckExtensions(v.pckChain[0]!), td!.teeTcbSvn).status).toBe('UpToDate');
    expect(matchTdxModule(info, td!)?.status).toBe('UpToDate');
  });
});

describe('go-tdx-guest TestNegativeVerification byte changes (SPR quote)', () => {
  const vectors: Array<[number, number, string]> = [
    [0x00, 3, 'UNSUPPORTED_FORMAT'],
    [0x278, 0x10, 'MALFORMED_EVIDENCE'],
    [0x1343, 0x32, 'PCK_CHAIN_INVALID'],
    [0x1329, 0x32, 'PCK_CHAIN_INVALID'],
    [0xf5f, 0x32, 'PCK_CHAIN_INVALID'],
    [0xb77, 0x32, 'PCK_CHAIN_INVALID'],
    [0x1e, 0x32, 'QUOTE_SIGNATURE_INVALID'],
    [0x3c, 0x32, 'QUOTE_SIGNATURE_INVALID'],
  ];
  const base = readSample('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat');
  for (const [off, val, code] of vectors) {
    it(`0x${off.toString(16)} -> 0x${val.toString(16)}: ${code}`, async () => {
      const q = base.slice();
      expect(q[off]).not.toBe(val);
      q[off] = val;
      expect(await codeOf(verifyDcapQuoteWithoutCollateral(q, { now: 1688173200 }))).toBe(code);
    });
  }
});

describe('validity windows', () => {
  const early = ['CERT_NOT_YET_VALID', 'COLLATERAL_NOT_YET_VALID'];
  const late = ['CERT_EXPIRED', 'COLLATERAL_EXPIRED'];
  for (const s of dcapSamples()) {
    it(`${s.name}: rejected before ${new Date(s.window![0] * 1000).toISOString()} and after ${new Date(s.window![1] * 1000).toISOString()}`, async () => {
      const [from, to] = s.window!;
      expect(early).toContain(await codeOf(verifyDcapQuote(s.quote, s.collateral, { now: from - 1 })));
      expect(late).toContain(await codeOf(verifyDcapQuote(s.quote, s.collateral, { now: to + 1 })));
      const inside = await codeOf(verifyDcapQuote(s.quote, s.collateral, { now: from }));
      expect([...early, ...late]).not.toContain(inside);
      const atEnd = await codeOf(verifyDcapQuote(s.quote, s.collateral, { now: to }));
      expect([...early, ...late]).not.toContain(atEnd);
    });
  }

  it('no-collateral mode enforces the PCK chain window', async () => {
    const q = readSample('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat');
    const v = await verifyDcapQuoteWithoutCollateral(q, { now: 1688173200 });
    expect(await codeOf(verifyDcapQuoteWithoutCollateral(q, { now: v.validFrom - 1 }))).toBe('CERT_NOT_YET_VALID');
    expect(await codeOf(verifyDcapQuoteWithoutCollateral(q, { now: v.expiresAt + 1 }))).toBe('CERT_EXPIRED');
  });

  it('maxCollateralAgeSeconds counts from issueDate', async () => {
    const s = dcapSamples()[0]!;
    const r = await verifyDcapQuote(s.quote, s.collateral, { now: s.now, maxCollateralAgeSeconds: 40 * 86400 });
    expect(r.expiresAt).toBe(s.window![1]);
    expect(await codeOf(verifyDcapQuote(s.quote, s.collateral, { now: s.now, maxCollateralAgeSeconds: 86400 }))).toBe('COLLATERAL_EXPIRED');
    const ok = await verifyDcapQuote(s.quote, s.collateral, { now: s.window![0], maxCollateralAgeSeconds: 86400 });
    expect(ok.expiresAt).toBe(iso('2025-06-20T10:16:03Z')); // TCB Info issueDate + 1 day
  });
});

describe('collateral handling', () => {
  const s = dcapSamples()[0]!;
  it('missing collateral fails closed', async () => {
    expect(await codeOf(verifyDcapQuote(s.quote, undefined, { now: s.now }))).toBe('COLLATERAL_UNAVAILABLE');
    expect(await codeOf(verifyDcapQuote(s.quote, null, { now: s.now }))).toBe('COLLATERAL_UNAVAILABLE');
    expect(await codeOf(verifyDcapQuote(s.quote, { foo: 1 }, { now: s.now }))).toBe('COLLATERAL_INVALID');
  });

  it('a non-finite evaluation time fails closed', async () => {
    expect(await codeOf(verifyDcapQuote(s.quote, s.collateral, { now: Number.NaN }))).toBe('CERT_NOT_YET_VALID');
    expect(await codeOf(verifyDcapQuoteWithoutCollateral(s.quote, { now: Number.NaN }))).toBe('CERT_NOT_YET_VALID');
  });

  it('QuoteCollateralV3 with a missing or non-hex field is COLLATERAL_INVALID', async () => {
    const c = s.collateral as Record<string, string>;
    expect(await codeOf(verifyDcapQuote(s.quote, { ...c, pck_crl: 'zz' }, { now: s.now }))).toBe('COLLATERAL_INVALID');
    expect(await codeOf(verifyDcapQuote(s.quote, { ...c, qe_identity: undefined }, { now: s.now }))).toBe('COLLATERAL_INVALID');
    expect(await codeOf(verifyDcapQuote(s.quote, { ...c, tcb_info_issuer_chain: 'no pem' }, { now: s.now }))).toBe('COLLATERAL_INVALID');
  });

  it('splitSignedJsonBody keeps the exact signed text (whitespace, escapes, key order)', () => {
    const body = String.raw` { "signature" : "0a0B", "tcbInfo" : {"a":"x\"}[","b":[1,{"c":2}]} } `;
    const r = splitSignedJsonBody(body, 'tcbInfo');
    expect(r.json).toBe(String.raw`{"a":"x\"}[","b":[1,{"c":2}]}`);
    expect([...r.signature]).toEqual([10, 11]);
    expect(() => splitSignedJsonBody('{"tcbInfo":{}}', 'tcbInfo')).toThrow(AttestationError);
    expect(() => splitSignedJsonBody('not json', 'enclaveIdentity')).toThrow(AttestationError);
    expect(() => splitSignedJsonBody('{"tcbInfo":{"a":1', 'tcbInfo')).toThrow(AttestationError);
  });

  it('accepts the normalized IntelCollateral form with the same result', async () => {
    const c = fromQuoteCollateralV3(s.collateral);
    const r = await verifyDcapQuote(s.quote, c, { now: s.now });
    expect(r.status).toBe('UpToDate');
  });

  it('tampered signed JSON, signatures and CRLs are rejected', async () => {
    const base = fromQuoteCollateralV3(s.collateral);
    const variants: Array<[string, IntelCollateral, string]> = [
      ['tcb info text', { ...base, tcbInfoJson: base.tcbInfoJson.replace('"UpToDate"', '"UpToDatE"') }, 'COLLATERAL_INVALID'],
      ['tcb info sig', { ...base, tcbInfoSignature: base.tcbInfoSignature.map((b, i) => (i === 5 ? b ^ 1 : b)) }, 'COLLATERAL_INVALID'],
      ['qe identity text', { ...base, qeIdentityJson: base.qeIdentityJson.replace('"isvsvn":4', '"isvsvn":1') }, 'COLLATERAL_INVALID'],
      ['qe identity sig', { ...base, qeIdentitySignature: new Uint8Array(64) }, 'COLLATERAL_INVALID'],
      ['pck crl byte', { ...base, pckCrl: base.pckCrl.map((b, i) => (i === base.pckCrl.length - 10 ? b ^ 1 : b)) }, 'COLLATERAL_INVALID'],
      ['root crl byte', { ...base, rootCaCrl: base.rootCaCrl.map((b, i) => (i === base.rootCaCrl.length - 10 ? b ^ 1 : b)) }, 'COLLATERAL_INVALID'],
      ['root crl garbage', { ...base, rootCaCrl: new Uint8Array([1, 2, 3]) }, 'COLLATERAL_INVALID'],
      ['tcb chain missing signer', { ...base, tcbInfoIssuerChain: base.tcbInfoIssuerChain.slice(1) }, 'CERT_CHAIN_INVALID'],
      ['pck crl from another CA', { ...base, pckCrl: readSample('tdx/go-tdx-guest/rootcrl.der') }, 'COLLATERAL_INVALID'],
      ['tcb info signed by a PCK CA chain', { ...base, tcbInfoIssuerChain: base.pckCrlIssuerChain }, 'CERT_CHAIN_INVALID'],
      ['qe identity chain of root only', { ...base, qeIdentityIssuerChain: base.qeIdentityIssuerChain.slice(1) }, 'CERT_CHAIN_INVALID'],
      ['pck crl issuer chain of TCB signing', { ...base, pckCrlIssuerChain: base.tcbInfoIssuerChain }, 'CERT_CHAIN_INVALID'],
    ];
    for (const [name, c, code] of variants) {
      expect([name, await codeOf(verifyDcapQuote(s.quote, c, { now: s.now }))]).toEqual([name, code]);
    }
  });

  it('collateral for another platform or TEE is rejected', async () => {
    const sgx = dcapSamples().find((x) => x.tee === 'sgx')!;
    expect(await codeOf(verifyDcapQuote(s.quote, sgx.collateral, { now: s.now }))).toBe('COLLATERAL_INVALID');
    const teep = dcapSamples().find((x) => x.name.startsWith('teep'))!;
    expect(await codeOf(verifyDcapQuote(s.quote, teepCollateral(), { now: teep.now }))).toMatch(/COLLATERAL_INVALID|CERT_EXPIRED/);
  });
});

describe('tamper resistance', () => {
  /** Byte ranges [start, end) of a quote that are signed or are signatures. */
  function signedRegions(bytes: Uint8Array): Array<[string, number, number]> {
    const q = parseDcapQuote(bytes);
    const sigStart = q.signedData.length + 4;
    const qeStart = q.header.version === 3 ? sigStart + 128 : sigStart + 128 + 6;
    return [
      ['header+body', 0, q.signedData.length],
      ['quote signature', sigStart, sigStart + 64],
      ['attestation key', sigStart + 64, sigStart + 128],
      ['QE report', qeStart, qeStart + 384],
      ['QE report signature', qeStart + 384, qeStart + 448],
      ['QE auth data', qeStart + 450, qeStart + 450 + q.qeAuthData.length],
    ];
  }

  it('flipping any byte of any signed region or signature is rejected with an AttestationError', async () => {
    const subjects = [dcapSamples()[0]!, dcapSamples()[4]!, dcapSamples()[9]!]; // v4 TDX, v5 TD1.5, v3 SGX
    const failures: string[] = [];
    let count = 0;
    for (const s of subjects) {
      await verifyDcapQuote(s.quote, s.collateral, { now: s.now }); // warm the caches
      for (const [region, start, end] of signedRegions(s.quote)) {
        for (let i = start; i < end; i++) {
          const q = s.quote.slice();
          q[i]! ^= 0xff;
          count++;
          try {
            await verifyDcapQuote(q, s.collateral, { now: s.now });
            failures.push(`${s.name} ${region} @${i}: PASSED`);
          } catch (e) {
            if (!(e instanceof AttestationError)) failures.push(`${s.name} ${region} @${i}: crash ${String(e)}`);
          }
        }
      }
    }
    expect(count).toBeGreaterThan(3000);
    expect(failures).toEqual([]);
  });

  it('random mutations anywhere never crash', async () => {
    const s = dcapSamples()[0]!;
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const crashes: string[] = [];
    for (let n = 0; n < 300; n++) {
      const q = s.quote.slice();
      const k = 1 + Math.floor(rnd() * 3);
      for (let j = 0; j < k; j++) q[Math.floor(rnd() * q.length)] = Math.floor(rnd() * 256);
      try {
        await verifyDcapQuote(q, s.collateral, { now: s.now });
      } catch (e) {
        if (!(e instanceof AttestationError)) crashes.push(String(e));
      }
    }
    expect(crashes).toEqual([]);
  });
});

describe('performance', () => {
  it('warm full TDX verification has a median under 2 ms', async () => {
    const s = dcapSamples()[0]!;
    for (let i = 0; i < 20; i++) await verifyDcapQuote(s.quote, s.collateral, { now: s.now });
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await verifyDcapQuote(s.quote, s.collateral, { now: s.now });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    expect(times[100]!).toBeLessThan(2);
  });
});
