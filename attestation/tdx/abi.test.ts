import { describe, expect, it } from 'vitest';
import { readSample } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { parseDcapQuote } from './abi.ts';
import { dcapSamples, parseOnlySamples } from './fixtures.ts';
import { tdxVerifier } from './index.ts';
import { parsePolicy } from '../policy.ts';
import { verifyDcapQuote } from './verify.ts';

function parseCode(bytes: Uint8Array): string {
  try {
    parseDcapQuote(bytes);
    return 'OK';
  } catch (e) {
    if (e instanceof AttestationError) return e.code;
    return `CRASH ${String(e)}`;
  }
}

describe('parseDcapQuote', () => {
  it('parses every sample with the documented version, body type and length', () => {
    const expected: Record<string, [number, number, number]> = {
      'dcap-qvl tdx_quote (v4)': [4, 2, 4936],
      'dcap-qvl tdx_quote_outdated (v5, TD1.5)': [5, 3, 5006],
      'go-tdx-guest cos-113 (v4, 8000 B padded) with automata collateral': [4, 2, 4935],
      'automata tdx_quote_v4_00806f050000': [4, 2, 4935],
      'dcap-qvl sgx_quote (v3)': [3, 1, 4600],
    };
    for (const s of [...dcapSamples(), ...parseOnlySamples()]) {
      const q = parseDcapQuote(s.quote);
      expect(q.qeAuthData.length).toBe(32);
      expect(q.certDataType).toBe(5);
      const e = expected[s.name];
      if (e) expect([q.header.version, q.body.type, q.length]).toEqual(e);
    }
  });

  it('TD1.5 bodies carry TEE_TCB_SVN_2 and MRSERVICETD; the Alibaba one is non-zero', () => {
    const q = parseDcapQuote(readSample('tdx/automata/alibaba_quote_5.dat'));
    expect(q.body.type).toBe(3);
    if (q.body.tee !== 'tdx') throw new Error('not TDX');
    expect(q.body.report.mrServiceTd!.some((b) => b !== 0)).toBe(true);
    expect(q.body.report.teeTcbSvn2!.length).toBe(16);
    expect(q.signedData.length).toBe(48 + 6 + 648);
  });

  it('v3 SGX header carries QE and PCE SVNs', () => {
    const q = parseDcapQuote(readSample('sgx/dcap-qvl/sgx_quote'));
    expect([q.header.qeSvn, q.header.pceSvn]).toEqual([10, 15]);
    expect(q.body.tee).toBe('sgx');
  });

  it('every truncation is a typed error; the full quote (without padding) parses', () => {
    const q = readSample('tdx/dcap-qvl/tdx_quote');
    const real = parseDcapQuote(q).length;
    const bad: string[] = [];
    for (let n = 0; n < real; n++) {
      const c = parseCode(q.subarray(0, n));
      if (c !== 'MALFORMED_EVIDENCE' && c !== 'UNSUPPORTED_FORMAT') bad.push(`${n}: ${c}`);
    }
    expect(bad).toEqual([]);
    expect(parseCode(q.subarray(0, real))).toBe('OK');
  });

  it('empty, random and hostile inputs never crash', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const inputs: Uint8Array[] = [new Uint8Array(0), new Uint8Array(1), new Uint8Array(48), new Uint8Array(10000)];
    for (let i = 0; i < 500; i++) {
      const len = Math.floor(rnd() * 6000);
      inputs.push(Uint8Array.from({ length: len }, () => Math.floor(rnd() * 256)));
    }
    // Valid header with random rest, and huge length fields.
    const header = readSample('tdx/dcap-qvl/tdx_quote').subarray(0, 48);
    for (let i = 0; i < 200; i++) {
      const rest = Uint8Array.from({ length: Math.floor(rnd() * 3000) }, () => Math.floor(rnd() * 256));
      const b = new Uint8Array(48 + rest.length);
      b.set(header);
      b.set(rest, 48);
      inputs.push(b);
    }
    const q = readSample('tdx/dcap-qvl/tdx_quote').slice();
    new DataView(q.buffer).setUint32(632, 0xffffffff, true);
    inputs.push(q);
    for (const b of inputs) expect(['MALFORMED_EVIDENCE', 'UNSUPPORTED_FORMAT']).toContain(parseCode(b));
  });

  it('non-bytes input is a typed error', () => {
    expect(parseCode('hello' as unknown as Uint8Array)).toBe('MALFORMED_EVIDENCE');
  });

  it('the verifiers reject garbage with UNSUPPORTED_FORMAT or MALFORMED_EVIDENCE', async () => {
    const s = dcapSamples()[0]!;
    const policy = parsePolicy({ tdx: { measurements: [{ mrtd: '00'.repeat(48) }] } });
    for (const b of [new Uint8Array(0), new Uint8Array(100).fill(0xff), s.quote.subarray(0, 1000), s.quote.subarray(0, 4935)]) {
      for (const p of [verifyDcapQuote(b, s.collateral, { now: s.now }), tdxVerifier.verify(b, s.collateral, { policy, now: s.now })]) {
        const code = await p.then(
          () => 'PASSED',
          (e: unknown) => (e instanceof AttestationError ? e.code : `CRASH ${String(e)}`),
        );
        expect(['MALFORMED_EVIDENCE', 'UNSUPPORTED_FORMAT']).toContain(code);
      }
    }
  });
});
