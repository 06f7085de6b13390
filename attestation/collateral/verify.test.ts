/**
 * End to end: collateral fetched over HTTP from recorded Intel PCS answers
 * (local replay server) verifies real quotes with the TDX/SGX DCAP verifier,
 * at the times SOURCES.md states, with the outcomes it states.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { parsePolicy } from '../policy.ts';
import { parseDcapQuote, tdxVerifier, verifyDcapQuote } from '../tdx/index.ts';
import { fromHex, toHex } from '../util/bytes.ts';
import { createPcsCollateralSource } from './source.ts';
import { collateralRequestFromQuote } from './quote.ts';
import { GEN_2025, GEN_2025_SGX, GEN_2026, PATHS, sec, startReplayServer, type ReplayServer } from './pcs.testkit.ts';

let server: ReplayServer;

beforeAll(async () => {
  server = await startReplayServer(GEN_2026);
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests = [];
  server.misbehave = undefined;
});

const hexSample = (p: string) => fromHex(readSampleText(p).trim());

const CASES = [
  {
    name: 'teep-agpl tinfoil_tdx_quote_v4 (Intel PCS recording, 2026-06-29)',
    quote: readSample('tdx/teep-agpl/tinfoil_tdx_quote_v4.bin'),
    gen: GEN_2026,
    now: 1782698882,
    request: { tee: 'tdx', fmspc: '90c06f000000', pckCa: 'platform' },
    status: 'UpToDate',
    advisories: [] as string[],
  },
  {
    name: 'go-tdx-guest quote_v5_sample (v5) with the same 2026 PCS answers',
    quote: readSample('tdx/go-tdx-guest/quote_v5_sample.dat'),
    gen: GEN_2026,
    now: sec('2026-06-29T02:08:02Z'),
    request: { tee: 'tdx', fmspc: '90c06f000000', pckCa: 'platform' },
    status: 'UpToDate',
    advisories: [],
  },
  {
    name: 'go-tdx-guest cos-113 (v4) with automata 2025 PCS bodies',
    quote: readSample('tdx/go-tdx-guest/cos-113-tdx-quote.dat'),
    gen: GEN_2025,
    now: 1749095100,
    request: { tee: 'tdx', fmspc: '00806f050000', pckCa: 'platform' },
    status: 'UpToDate',
    advisories: [],
  },
  {
    name: 'automata tdx_quote_v4_00806f050000 (OutOfDate)',
    quote: hexSample('tdx/automata/tdx_quote_v4_00806f050000.hex'),
    gen: GEN_2025,
    now: 1749095100,
    request: { tee: 'tdx', fmspc: '00806f050000', pckCa: 'platform' },
    status: 'OutOfDate',
    advisories: ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986'],
  },
  {
    name: 'automata alibaba_quote_5 (v5, TD1.5)',
    quote: readSample('tdx/automata/alibaba_quote_5.dat'),
    gen: GEN_2025,
    now: 1749945600,
    request: { tee: 'tdx', fmspc: '90c06f000000', pckCa: 'platform' },
    status: 'UpToDate',
    advisories: [],
  },
  {
    name: 'automata sgx_quote_v3_00606a000000 (SGX, SWHardeningNeeded)',
    quote: hexSample('sgx/automata/sgx_quote_v3_00606a000000.hex'),
    gen: GEN_2025_SGX,
    now: 1755236700,
    request: { tee: 'sgx', fmspc: '00606a000000', pckCa: 'platform' },
    status: 'SWHardeningNeeded',
    advisories: ['INTEL-SA-00615'],
  },
] as const;

describe('PCS-fetched collateral verifies real quotes', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      server.gen = c.gen;
      const source = createPcsCollateralSource({ baseUrl: server.base, now: () => c.now });
      const req = collateralRequestFromQuote(c.quote);
      expect(req).toEqual(c.request);
      const collateral = await source.getCollateral(req);
      expect(server.requests).toHaveLength(4);
      const claims = await verifyDcapQuote(c.quote, collateral, { now: c.now });
      expect(claims.status).toBe(c.status);
      expect([...claims.advisoryIds].sort()).toEqual([...c.advisories].sort());
      expect(claims.fmspc).toBe(c.request.fmspc);
    });
  }

  it('admits the tinfoil TD through tdxVerifier with PCS-fetched collateral, and the verdict expires with it', async () => {
    server.gen = GEN_2026;
    const now = 1782698882;
    const quote = readSample('tdx/teep-agpl/tinfoil_tdx_quote_v4.bin');
    const source = createPcsCollateralSource({ baseUrl: server.base, now: () => now });
    const fetched = await source.getCollateralDetailed(collateralRequestFromQuote(quote));
    const td = parseDcapQuote(quote).body;
    if (td.tee !== 'tdx') throw new Error('expected a TD quote');
    const policy = parsePolicy({
      tdx: { measurements: [{ mrtd: toHex(td.report.mrTd) }], tdAttributes: [toHex(td.report.tdAttributes)] },
      tcb: { acceptedStatuses: ['UpToDate'] },
    });
    const verdict = await tdxVerifier.verify(quote, fetched.collateral, { policy, now });
    expect(verdict.kind).toBe('tdx');
    expect(verdict.tcbStatus).toBe('UpToDate');
    expect(verdict.expiresAt).toBeLessThanOrEqual(fetched.nextUpdate);
  });

  it('a PCS that tampers with the signed TCB Info is caught by the verifier, not trusted', async () => {
    const tcbPath = PATHS.tdxTcb('90c06f000000');
    const original = GEN_2026[tcbPath]!;
    const text = new TextDecoder().decode(original.body);
    // Still well-formed and plausible, so the source accepts it; the signature no longer matches.
    const forged = text.replace('"tcbEvaluationDataNumber":19', '"tcbEvaluationDataNumber":20');
    expect(forged).not.toBe(text);
    server.gen = { ...GEN_2026, [tcbPath]: { body: new TextEncoder().encode(forged), headers: original.headers } };
    const now = 1782698882;
    const source = createPcsCollateralSource({ baseUrl: server.base, now: () => now });
    const quote = readSample('tdx/teep-agpl/tinfoil_tdx_quote_v4.bin');
    const collateral = await source.getCollateral(collateralRequestFromQuote(quote));
    await expect(verifyDcapQuote(quote, collateral, { now })).rejects.toMatchObject({ code: 'COLLATERAL_INVALID' });
  });
});

describe('collateralRequestFromQuote', () => {
  it('reads TEE, FMSPC and PCK CA from real quotes', () => {
    expect(collateralRequestFromQuote(readSample('sgx/dcap-qvl/sgx_quote'))).toEqual({ tee: 'sgx', fmspc: '00a067110000', pckCa: 'processor' });
    expect(collateralRequestFromQuote(readSample('tdx/dcap-qvl/tdx_quote'))).toEqual({ tee: 'tdx', fmspc: 'b0c06f000000', pckCa: 'platform' });
    expect(collateralRequestFromQuote(parseDcapQuote(readSample('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat')))).toMatchObject({ fmspc: '50806f000000' });
  });

  it('throws typed errors on garbage', () => {
    expect(() => collateralRequestFromQuote(new Uint8Array(100))).toThrow(AttestationError);
    const q = readSample('tdx/teep-agpl/tinfoil_tdx_quote_v4.bin').slice(0, 1000);
    expect(() => collateralRequestFromQuote(q)).toThrow(AttestationError);
  });
});

describe('runtime-agnostic', () => {
  it('runtime files of attestation/collateral use no Node APIs', () => {
    const dir = new URL('.', import.meta.url);
    const runtime = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.testkit.ts'));
    expect(runtime.length).toBeGreaterThanOrEqual(7);
    for (const f of runtime) {
      const src = readFileSync(new URL(f, dir), 'utf8');
      expect(src, f).not.toMatch(/from ['"]node:|require\(|\bBuffer\b|\bprocess\./);
    }
  });
});
