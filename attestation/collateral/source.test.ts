/**
 * The PCS/PCCS collateral source against a real HTTP server on 127.0.0.1 that
 * replays recorded Intel PCS answers with their issuer-chain headers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError, CollateralExpiredError, CollateralUnavailableError } from '../errors.ts';
import { isIntelCollateral } from '../tdx/collateral.ts';
import { CollateralFetchError, CollateralSourceConfigError, CollateralStaleError } from './errors.ts';
import { createMemoryCollateralCache, createPcsCollateralSource, INTEL_ROOT_CA_CRL_URL, type PcsCollateralSourceOptions } from './source.ts';
import {
  AUTOMATA_SIGNING_CHAIN as automataSigning,
  GEN_2025,
  GEN_2026,
  PATHS,
  sec,
  startReplayServer,
  type ReplayServer,
} from './pcs.testkit.ts';

const TCB_90C = PATHS.tdxTcb('90c06f000000');
const TCB_008 = PATHS.tdxTcb('00806f050000');
const QE_TDX = PATHS.tdxQe;
const CRL_PLATFORM = PATHS.crl('platform');
const ROOT_PCCS = PATHS.rootPccs;

let state: ReplayServer;
let base: string;

beforeAll(async () => {
  state = await startReplayServer(GEN_2026);
  base = state.base;
});

afterAll(() => state.close());

// A test whose getCollateral rejects early leaves sibling requests in flight; let them land
// before the next test starts counting.
afterEach(() => new Promise<void>((r) => setTimeout(r, 50)));

beforeEach(() => {
  state.gen = GEN_2026;
  state.requests = [];
  state.misbehave = undefined;
});

/** A source with an injectable clock. */
function source(extra: Partial<PcsCollateralSourceOptions> = {}, start = sec('2026-06-29T02:08:02Z')) {
  const clock = { now: start };
  const s = createPcsCollateralSource({ baseUrl: base, now: () => clock.now, timeoutMs: 2_000, ...extra });
  return { s, clock };
}

const TDX_REQ = { tee: 'tdx', fmspc: '90c06f000000', pckCa: 'platform' } as const;

async function expectReject(p: Promise<unknown>, reason: string, status?: number): Promise<CollateralFetchError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CollateralFetchError);
  expect(e).toBeInstanceOf(CollateralUnavailableError);
  expect(e).toBeInstanceOf(AttestationError);
  expect((e as AttestationError).code).toBe('COLLATERAL_UNAVAILABLE');
  expect((e as CollateralFetchError).reason).toBe(reason);
  if (status !== undefined) expect((e as CollateralFetchError).status).toBe(status);
  return e as CollateralFetchError;
}

describe('createPcsCollateralSource against a local PCS', () => {
  it('fetches and parses all four items into IntelCollateral', async () => {
    const { s } = source();
    const d = await s.getCollateralDetailed(TDX_REQ);
    expect(isIntelCollateral(d.collateral)).toBe(true);
    expect(state.requests.sort()).toEqual([CRL_PLATFORM, ROOT_PCCS, TCB_90C, QE_TDX].sort());
    expect(d.collateral.tcbInfoJson).toBe(new TextDecoder().decode(GEN_2026[TCB_90C]!.body).slice('{"tcbInfo":'.length, -(',"signature":"'.length + 128 + 2)));
    expect(d.collateral.tcbInfoIssuerChain).toHaveLength(2);
    expect(d.collateral.qeIdentityJson.startsWith('{"id":"TD_QE"')).toBe(true);
    expect(d.collateral.pckCrl).toEqual(readSample('tdx/teep-agpl/pckcrl_platform.body.der'));
    expect(d.collateral.pckCrlIssuerChain).toHaveLength(2);
    expect(d.collateral.rootCaCrl).toEqual(readSample('tdx/teep-agpl/root_ca_crl.body.der'));
    expect(d.tcbInfo.tcbEvaluationDataNumber).toBe(19);
    // Earliest nextUpdate of the four: the PCK CRL.
    expect(d.nextUpdate).toBe(sec('2026-07-29T00:55:06Z'));
  });

  it('serves a second call from the cache (no new requests)', async () => {
    const { s } = source();
    const first = await s.getCollateral(TDX_REQ);
    expect(state.requests).toHaveLength(4);
    const second = await s.getCollateral(TDX_REQ);
    expect(state.requests).toHaveLength(4);
    expect(second).toEqual(first);
    // Cached bytes are handed out as copies: a caller mutating them cannot poison the cache.
    second.rootCaCrl[0] = 0;
    second.tcbInfoSignature.fill(0);
    const third = await s.getCollateral(TDX_REQ);
    expect(third).toEqual(first);
    expect(state.requests).toHaveLength(4);
  });

  it('shares one request between concurrent callers', async () => {
    const { s } = source();
    const [a, b, c] = await Promise.all([s.getCollateral(TDX_REQ), s.getCollateral(TDX_REQ), s.getTcbInfo('tdx', '90C06F000000')]);
    expect(a).toEqual(b);
    expect(c.fmspc).toBe('90c06f000000');
    expect(state.requests).toHaveLength(4);
  });

  it('refetches each item once the clock reaches its nextUpdate, and never serves it expired', async () => {
    state.gen = GEN_2025;
    const { s, clock } = source({}, sec('2025-06-15T00:00:00Z'));
    const june = await s.getCollateralDetailed(TDX_REQ);
    expect(june.tcbInfo.tcbEvaluationDataNumber).toBe(17);
    expect(june.nextUpdate).toBe(sec('2025-07-04T09:19:31Z')); // the PCK CRL's
    expect(state.requests).toHaveLength(4);

    // One second before the PCK CRL's nextUpdate: all from cache.
    clock.now = sec('2025-07-04T09:19:30Z');
    await s.getCollateral(TDX_REQ);
    expect(state.requests).toHaveLength(4);

    // At its nextUpdate the PCK CRL (only) is refetched; the server now has a newer one.
    state.gen = { ...GEN_2025, [CRL_PLATFORM]: GEN_2026[CRL_PLATFORM]! };
    clock.now = sec('2025-07-04T09:19:31Z');
    const refreshed = await s.getCollateralDetailed(TDX_REQ);
    expect(state.requests.slice(4)).toEqual([CRL_PLATFORM]);
    expect(refreshed.pckCrl.der).toEqual(readSample('tdx/teep-agpl/pckcrl_platform.body.der'));
    expect(refreshed.tcbInfo.json).toBe(june.tcbInfo.json);

    // Past the QE identity's and TCB Info's nextUpdate, the server still has only the old answers:
    // fail closed with COLLATERAL_EXPIRED instead of serving them.
    state.gen = GEN_2025;
    clock.now = sec('2025-08-01T00:00:00Z');
    const before = state.requests.length;
    const e = await s.getTcbInfo('tdx', '90c06f000000').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CollateralStaleError);
    expect(e).toBeInstanceOf(CollateralExpiredError);
    expect((e as AttestationError).code).toBe('COLLATERAL_EXPIRED');
    expect((e as CollateralStaleError).nextUpdate).toBe(sec('2025-07-05T03:43:45Z'));
    await expect(s.getQeIdentity('tdx')).rejects.toMatchObject({ code: 'COLLATERAL_EXPIRED' });
    // Stale answers are not cached: each call asks again.
    await expect(s.getTcbInfo('tdx', '90c06f000000')).rejects.toBeInstanceOf(CollateralStaleError);
    expect(state.requests.slice(before)).toEqual([TCB_90C, QE_TDX, TCB_90C]);

    // The PCS publishes new collateral. A year on, everything expired is refetched (the root CA CRL
    // too, past 2026-04-03); the PCK CRL fetched above is valid until 2026-07-29 and stays cached.
    state.gen = GEN_2026;
    clock.now = sec('2026-06-29T02:08:02Z');
    const mark = state.requests.length;
    const fresh = await s.getCollateralDetailed(TDX_REQ);
    expect(state.requests.slice(mark).sort()).toEqual([ROOT_PCCS, TCB_90C, QE_TDX].sort());
    expect(fresh.tcbInfo.tcbEvaluationDataNumber).toBe(19);
    expect(fresh.rootCaCrl.der).toEqual(readSample('tdx/teep-agpl/root_ca_crl.body.der'));
    await s.getCollateral(TDX_REQ);
    expect(state.requests.length).toBe(mark + 3);
  });

  it('with cache: false, asks every time', async () => {
    const { s } = source({ cache: false });
    await s.getCollateral(TDX_REQ);
    await s.getCollateral(TDX_REQ);
    expect(state.requests).toHaveLength(8);
  });

  it('uses Intel-style URLs: a trailing /sgx/certification/v4 base, and an explicit root CA CRL URL', async () => {
    const { s } = source({ baseUrl: `${base}/sgx/certification/v4/`, rootCaCrlUrl: `${base}/IntelSGXRootCA.der` });
    expect(s.urlsFor(TDX_REQ)).toEqual({
      tcbInfo: `${base}${TCB_90C}`,
      qeIdentity: `${base}${QE_TDX}`,
      pckCrl: `${base}${CRL_PLATFORM}`,
      rootCaCrl: `${base}/IntelSGXRootCA.der`,
    });
    const c = await s.getCollateral(TDX_REQ);
    expect(c.rootCaCrl).toEqual(readSample('tdx/teep-agpl/root_ca_crl.body.der'));
    expect(state.requests).toContain('/IntelSGXRootCA.der');
    expect(createPcsCollateralSource({ baseUrl: 'https://api.trustedservices.intel.com' }).urlsFor(TDX_REQ).rootCaCrl).toBe(
      INTEL_ROOT_CA_CRL_URL,
    );
    const early = createPcsCollateralSource({ baseUrl: 'https://pccs.example:8081/', update: 'early' }).urlsFor(TDX_REQ);
    expect(early.tcbInfo).toBe('https://pccs.example:8081/tdx/certification/v4/tcb?fmspc=90c06f000000&update=early');
    expect(early.qeIdentity).toBe('https://pccs.example:8081/tdx/certification/v4/qe/identity?update=early');
    expect(early.rootCaCrl).toBe('https://pccs.example:8081/sgx/certification/v4/rootcacrl');
  });
});

describe('fail closed: every failure is COLLATERAL_UNAVAILABLE', () => {
  it('HTTP 500', async () => {
    state.misbehave = (req, res) => (req.url === TCB_90C ? (res.writeHead(500).end('oops'), true) : false);
    const { s } = source();
    await expectReject(s.getCollateral(TDX_REQ), 'http-status', 500);
  });

  it('HTTP 404 for an FMSPC the PCS does not know', async () => {
    const { s } = source();
    const e = await expectReject(s.getTcbInfo('tdx', 'ffffffffffff'), 'http-status', 404);
    expect(e.message).toContain('NotFound');
  });

  it('the server drops the connection before answering', async () => {
    state.misbehave = (req) => (req.url === QE_TDX ? (req.socket.destroy(), true) : false);
    const { s } = source();
    await expectReject(s.getCollateral(TDX_REQ), 'network');
  });

  it('the server drops the connection in the middle of the body', async () => {
    state.misbehave = (req, res) => {
      if (req.url !== CRL_PLATFORM) return false;
      const a = GEN_2026[CRL_PLATFORM]!;
      res.writeHead(200, { 'Content-Length': a.body.length, ...a.headers });
      res.write(a.body.subarray(0, 100), () => res.socket?.destroy());
      return true;
    };
    const { s } = source();
    await expectReject(s.getCollateral(TDX_REQ), 'network');
  });

  it('nothing listens on the port', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const s = createPcsCollateralSource({ baseUrl: `http://127.0.0.1:${port}` });
    await expectReject(s.getCollateral(TDX_REQ), 'network');
  });

  it('the server never answers (timeout)', async () => {
    state.misbehave = (req) => req.url === TCB_90C; // leave it hanging
    const { s } = source({ timeoutMs: 300 });
    const t0 = Date.now();
    await expectReject(s.getTcbInfo('tdx', '90c06f000000'), 'timeout');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('the server sends headers, then stalls the body (timeout covers the body too)', async () => {
    state.misbehave = (req, res) => {
      if (req.url !== TCB_90C) return false;
      const a = GEN_2026[TCB_90C]!;
      res.writeHead(200, { 'Content-Length': a.body.length, ...a.headers });
      res.write(a.body.subarray(0, 10));
      return true;
    };
    const { s } = source({ timeoutMs: 300 });
    await expectReject(s.getTcbInfo('tdx', '90c06f000000'), 'timeout');
  });

  it('the issuer-chain header is omitted', async () => {
    state.misbehave = (req, res) => {
      if (req.url !== TCB_90C) return false;
      res.writeHead(200).end(GEN_2026[TCB_90C]!.body);
      return true;
    };
    const { s } = source();
    await expectReject(s.getCollateral(TDX_REQ), 'missing-header');
  });

  it('the PCK CRL issuer-chain header is omitted', async () => {
    state.misbehave = (req, res) => {
      if (req.url !== CRL_PLATFORM) return false;
      res.writeHead(200).end(GEN_2026[CRL_PLATFORM]!.body);
      return true;
    };
    const { s } = source();
    await expectReject(s.getCollateral(TDX_REQ), 'missing-header');
  });

  it('the issuer-chain header is garbage', async () => {
    state.misbehave = (req, res) => {
      if (req.url !== QE_TDX) return false;
      res.writeHead(200, { 'SGX-Enclave-Identity-Issuer-Chain': 'not%20a%20chain' }).end(GEN_2026[QE_TDX]!.body);
      return true;
    };
    const { s } = source();
    await expectReject(s.getCollateral(TDX_REQ), 'malformed-header');
  });

  for (const [name, url, body] of [
    ['TCB Info body is garbage', TCB_90C, 'garbage'],
    ['TCB Info body is an HTML error page with 200', TCB_90C, '<html>maintenance</html>'],
    ['TCB Info body is truncated JSON', TCB_90C, readSampleText('tdx/teep-agpl/tdx_tcb_90c06f000000.body.json').slice(0, 500)],
    ['QE identity body is empty', QE_TDX, ''],
    ['PCK CRL body is garbage', CRL_PLATFORM, 'garbage'],
    ['root CA CRL body is garbage', ROOT_PCCS, 'deadbeef'],
  ] as const) {
    it(`${name}`, async () => {
      state.misbehave = (req, res) => {
        if (req.url !== url) return false;
        res.writeHead(200, GEN_2026[url]!.headers).end(body);
        return true;
      };
      const { s } = source();
      await expectReject(s.getCollateral(TDX_REQ), 'malformed-body');
    });
  }

  it('the answer is for another FMSPC, TEE or CA than asked', async () => {
    const { s } = source();
    // TCB Info for 00806f050000 served under 90c06f000000.
    state.gen = { ...GEN_2026, [TCB_90C]: GEN_2025[TCB_008]! };
    await expectReject(s.getTcbInfo('tdx', '90c06f000000'), 'mismatch');
    // SGX TCB Info served on the TDX path.
    state.gen = {
      ...GEN_2026,
      [TCB_90C]: { body: readSample('sgx/automata/sgx_tcbinfov3_00606a000000.json'), headers: { 'TCB-Info-Issuer-Chain': automataSigning } },
    };
    await expectReject(s.getTcbInfo('tdx', '90c06f000000'), 'mismatch');
    // The SGX QE identity on the TDX path.
    state.gen = {
      ...GEN_2026,
      [QE_TDX]: { body: readSample('sgx/automata/sgx_qeidentity_v4.json'), headers: { 'SGX-Enclave-Identity-Issuer-Chain': automataSigning } },
    };
    await expectReject(s.getQeIdentity('tdx'), 'mismatch');
    // A platform CA CRL where the processor CA CRL was asked for.
    state.gen = { ...GEN_2026, '/sgx/certification/v4/pckcrl?ca=processor&encoding=der': GEN_2026[CRL_PLATFORM]! };
    await expectReject(s.getPckCrl('processor'), 'mismatch');
    // A PCK CRL where the root CA CRL was expected.
    state.gen = { ...GEN_2026, [ROOT_PCCS]: { body: GEN_2026[CRL_PLATFORM]!.body, headers: {} } };
    await expectReject(s.getRootCaCrl(), 'mismatch');
  });

  it('a body over the size limit (declared or streamed)', async () => {
    const { s } = source({ maxBodyBytes: 1000 });
    await expectReject(s.getPckCrl('platform'), 'too-large');
    state.misbehave = (req, res) => {
      if (req.url !== CRL_PLATFORM) return false;
      res.writeHead(200, GEN_2026[CRL_PLATFORM]!.headers); // chunked, no Content-Length
      res.end(GEN_2026[CRL_PLATFORM]!.body);
      return true;
    };
    await expectReject(s.getPckCrl('platform'), 'too-large');
  });

  it('failures are not cached: the next call retries and succeeds', async () => {
    let fail = true;
    state.misbehave = (req, res) => (fail && req.url === TCB_90C ? (res.writeHead(503).end(), true) : false);
    const { s } = source();
    await expectReject(s.getCollateral(TDX_REQ), 'http-status', 503);
    fail = false;
    const c = await s.getCollateral(TDX_REQ);
    expect(isIntelCollateral(c)).toBe(true);
    expect(state.requests.filter((u) => u === TCB_90C)).toHaveLength(2);
  });

  it('invalid requests and configuration are typed errors, with no request sent', async () => {
    const { s } = source();
    await expectReject(s.getTcbInfo('tdx', '90c06f'), 'invalid-request');
    await expectReject(s.getTcbInfo('tdx', '90c06f00000g'), 'invalid-request');
    await expectReject(s.getCollateral({ tee: 'snp' as 'tdx', fmspc: '90c06f000000', pckCa: 'platform' }), 'invalid-request');
    await expectReject(s.getPckCrl('root' as 'platform'), 'invalid-request');
    expect(state.requests).toEqual([]);
    for (const baseUrl of ['not a url', 'ftp://pcs.example', 'https://pcs.example/?x=1']) {
      expect(() => createPcsCollateralSource({ baseUrl })).toThrow(CollateralSourceConfigError);
    }
    expect(() => createPcsCollateralSource({ baseUrl: base, timeoutMs: 0 })).toThrow(AttestationError);
    expect(() => createPcsCollateralSource({ baseUrl: base, rootCaCrlUrl: 'nope' })).toThrow(CollateralSourceConfigError);
    expect(() => createPcsCollateralSource({ baseUrl: base, rootCaCrlUrl: 'file:///etc/passwd' })).toThrow(CollateralSourceConfigError);
  });

  it('a fetch that throws synchronously or rejects with a non-Error', async () => {
    const s1 = createPcsCollateralSource({
      baseUrl: base,
      fetch: () => {
        throw new TypeError('boom');
      },
    });
    await expectReject(s1.getCollateral(TDX_REQ), 'network');
    const s2 = createPcsCollateralSource({ baseUrl: base, fetch: () => Promise.reject('nope') });
    await expectReject(s2.getCollateral(TDX_REQ), 'network');
  });
});

describe('createMemoryCollateralCache', () => {
  it('evicts the oldest entry beyond maxEntries', () => {
    const c = createMemoryCollateralCache({ maxEntries: 2 });
    const e = (n: number) => ({ value: n, nextUpdate: 10, fetchedAt: 0 });
    c.set('a', e(1));
    c.set('b', e(2));
    c.set('a', e(3)); // refresh: a is now newest
    c.set('c', e(4));
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')?.value).toBe(3);
    expect(c.get('c')?.value).toBe(4);
    c.clear();
    expect(c.get('a')).toBeUndefined();
    expect(() => createMemoryCollateralCache({ maxEntries: 0 })).toThrow(CollateralSourceConfigError);
  });
});
