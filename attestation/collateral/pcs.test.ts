import { verify as nodeVerify, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError, CollateralUnavailableError } from '../errors.ts';
import { fromQuoteCollateralV3 } from '../tdx/collateral.ts';
import { toHex, utf8 } from '../util/bytes.ts';
import { CollateralFetchError } from './errors.ts';
import {
  decodeIssuerChain,
  parsePckCrlResponse,
  parseQeIdentityResponse,
  parseRootCaCrlResponse,
  parseTcbInfoResponse,
  toIntelCollateral,
} from './pcs.ts';
import { rawTopLevelMembers } from './raw-json.ts';
import { derToPemChain, pemChainHeader } from './pcs.testkit.ts';

const iso = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');

/** Issuer chains as PCS sends them: URL-encoded PEM. */
const CHAIN = {
  goTcb: pemChainHeader(readSampleText('tdx/go-tdx-guest/tcbInfoIssuerChain.pem')),
  goQe: pemChainHeader(readSampleText('tdx/go-tdx-guest/qeIdentityIssuerChain.pem')),
  goPck: pemChainHeader(readSampleText('tdx/go-tdx-guest/pckCrlIssuerChain.pem')),
  teepTcb: pemChainHeader(readSampleText('tdx/teep-agpl/tdx_tcb_90c06f000000.issuer-chain.pem')),
  teepQe: pemChainHeader(readSampleText('tdx/teep-agpl/tdx_qe_identity.issuer-chain.pem')),
  teepPck: pemChainHeader(readSampleText('tdx/teep-agpl/pckcrl_platform.issuer-chain.pem')),
  // automata ships the certificates as DER; build the header PCS would have sent.
  automataSigning: pemChainHeader(
    derToPemChain([readSample('intel-common/automata/tcbSigningDer.der'), readSample('intel-common/automata/rootCaDer.der')]),
  ),
  automataPlatform: pemChainHeader(
    derToPemChain([readSample('intel-common/automata/platformCaDer.der'), readSample('intel-common/automata/rootCaDer.der')]),
  ),
};

/** Checks an ECDSA P-256 r‖s signature over `text` with the first cert of `chain` (node:crypto, independent of the code under test). */
function signatureVerifies(text: string, signature: Uint8Array, chain: Uint8Array[]): boolean {
  const key = new X509Certificate(chain[0]!).publicKey;
  return nodeVerify('sha256', utf8(text), { key, dsaEncoding: 'ieee-p1363' }, signature);
}

interface TcbCase {
  file: string;
  header: string;
  headerName?: string;
  id: string;
  fmspc: string;
  issue: string;
  next: string;
  eval: number;
  /** The key that signed it (chain[0]) when the header chain's signer is not the one to check with. */
  signer?: Uint8Array;
}

const TCB_CASES: TcbCase[] = [
  { file: 'tdx/go-tdx-guest/sample_tcbInfo_response', header: CHAIN.goTcb, id: 'TDX', fmspc: '50806f000000', issue: '2023-06-18T08:42:58Z', next: '2023-07-18T08:42:58Z', eval: 15 },
  { file: 'tdx/go-tdx-guest/sample_tcbinfo_response_v5', header: CHAIN.automataSigning, id: 'TDX', fmspc: '90c06f000000', issue: '2026-02-01T14:49:26Z', next: '2026-03-03T14:49:26Z', eval: 18 },
  { file: 'tdx/automata/tcbinfov3_00806f050000.json', header: CHAIN.automataSigning, id: 'TDX', fmspc: '00806f050000', issue: '2025-06-04T09:51:38Z', next: '2025-07-04T09:51:38Z', eval: 17 },
  // PCS served this one with an uppercase FMSPC; the parser normalizes to lowercase.
  { file: 'tdx/automata/tcbinfov3_90C06F000000.json', header: CHAIN.automataSigning, headerName: 'SGX-TCB-Info-Issuer-Chain', id: 'TDX', fmspc: '90c06f000000', issue: '2025-06-05T03:43:45Z', next: '2025-07-05T03:43:45Z', eval: 17 },
  { file: 'tdx/teep-agpl/tdx_tcb_90c06f000000.body.json', header: CHAIN.teepTcb, headerName: 'Tcb-Info-Issuer-Chain', id: 'TDX', fmspc: '90c06f000000', issue: '2026-06-29T01:42:47Z', next: '2026-07-29T01:42:47Z', eval: 19 },
  { file: 'sgx/automata/sgx_tcbinfov3_00606a000000.json', header: CHAIN.automataSigning, id: 'SGX', fmspc: '00606a000000', issue: '2025-08-15T05:08:18Z', next: '2025-09-14T05:08:18Z', eval: 17 },
];

const QE_CASES = [
  { file: 'tdx/go-tdx-guest/sample_qeIdentity_response', header: CHAIN.goQe, id: 'TD_QE', issue: '2023-06-08T07:24:59Z', next: '2023-07-08T07:24:59Z', eval: 15 },
  { file: 'tdx/automata/qe_td.json', header: CHAIN.automataSigning, id: 'TD_QE', issue: '2025-06-04T09:40:18Z', next: '2025-07-04T09:40:18Z', eval: 17 },
  { file: 'tdx/teep-agpl/tdx_qe_identity.body.json', header: CHAIN.teepQe, id: 'TD_QE', issue: '2026-06-29T01:42:43Z', next: '2026-07-29T01:42:43Z', eval: 19 },
  { file: 'sgx/automata/sgx_qeidentity_v4.json', header: CHAIN.automataSigning, id: 'QE', issue: '2025-08-15T04:36:46Z', next: '2025-09-14T04:36:46Z', eval: 17 },
];

const PCK_CRL_CASES = [
  { file: 'tdx/go-tdx-guest/pckcrl', header: CHAIN.goPck, next: '2023-07-08T07:27:52Z' },
  { file: 'tdx/automata/platformCrlDer_0625.der', header: CHAIN.automataPlatform, next: '2025-07-04T09:19:31Z' },
  { file: 'tdx/teep-agpl/pckcrl_platform.body.der', header: CHAIN.teepPck, next: '2026-07-29T00:55:06Z' },
  { file: 'sgx/automata/platform_crl.der', header: CHAIN.automataPlatform, next: '2025-09-14T05:41:26Z' },
];

const ROOT_CRL_CASES = [
  { file: 'tdx/go-tdx-guest/rootcrl.der', this: '2023-04-03T10:22:51Z', next: '2024-04-02T10:22:51Z' },
  { file: 'intel-common/automata/rootCrlDer.der', this: '2025-03-20T11:21:57Z', next: '2026-04-03T11:21:57Z' },
  { file: 'tdx/teep-agpl/root_ca_crl.body.der', this: '2026-02-26T13:04:00Z', next: '2027-02-26T13:04:00Z' },
];

function expectFetchError(fn: () => unknown, reason: string): CollateralFetchError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CollateralFetchError);
    expect(e).toBeInstanceOf(CollateralUnavailableError);
    expect(e).toBeInstanceOf(AttestationError);
    expect((e as CollateralFetchError).code).toBe('COLLATERAL_UNAVAILABLE');
    expect((e as CollateralFetchError).reason).toBe(reason);
    return e as CollateralFetchError;
  }
  throw new Error('expected a CollateralFetchError');
}

describe('PCS TCB Info responses', () => {
  for (const c of TCB_CASES) {
    it(`parses ${c.file}`, () => {
      const bodyBytes = readSample(c.file);
      const text = new TextDecoder().decode(bodyBytes);
      const item = parseTcbInfoResponse({ body: bodyBytes, headers: { [c.headerName ?? 'TCB-Info-Issuer-Chain']: c.header } });
      expect(item.id).toBe(c.id);
      expect(item.fmspc).toBe(c.fmspc);
      expect(item.version).toBe(3);
      expect(item.tcbEvaluationDataNumber).toBe(c.eval);
      expect(iso(item.issueDate)).toBe(c.issue);
      expect(iso(item.nextUpdate)).toBe(c.next);
      expect(item.issuerChain).toHaveLength(2);
      expect(item.signature).toHaveLength(64);
      // The signed text is a verbatim substring of the body, and Intel's signature verifies over it.
      expect(text).toContain(item.json);
      expect(text.startsWith(`{"tcbInfo":${item.json},"signature":"`)).toBe(true);
      expect(signatureVerifies(item.json, item.signature, item.issuerChain)).toBe(true);
      // A string body gives the same result.
      expect(parseTcbInfoResponse({ body: text, headers: { 'tcb-info-issuer-chain': c.header } }).json).toBe(item.json);
    });
  }

  it('keeps the exact text when the body is formatted differently (order, spacing, escapes)', () => {
    const item = parseTcbInfoResponse({ body: readSample('tdx/teep-agpl/tdx_tcb_90c06f000000.body.json'), headers: { 'TCB-Info-Issuer-Chain': CHAIN.teepTcb } });
    const sigHex = toHex(item.signature).toUpperCase();
    const body = `\r\n {  "signature" :\t"${sigHex}" ,\n  "note": "a \\"tcbInfo\\": {} string }",\n  "tcbInfo" :   ${item.json}\n}\n`;
    const again = parseTcbInfoResponse({ body, headers: { 'TCB-Info-Issuer-Chain': CHAIN.teepTcb } });
    expect(again.json).toBe(item.json);
    expect(again.signature).toEqual(item.signature);
    expect(signatureVerifies(again.json, again.signature, again.issuerChain)).toBe(true);
    // A re-serialization would not be the signed text (this is why the parser never re-serializes).
    const reserialized = JSON.stringify(JSON.parse(item.json), null, 1);
    expect(signatureVerifies(reserialized, item.signature, item.issuerChain)).toBe(false);
  });

  it('rejects a body that is not a TCB Info answer', () => {
    const h = { 'TCB-Info-Issuer-Chain': CHAIN.teepTcb };
    const good = readSampleText('tdx/teep-agpl/tdx_tcb_90c06f000000.body.json');
    // TCB evaluation data numbers are signed JSON too, but not TCB Info.
    expectFetchError(() => parseTcbInfoResponse({ body: readSample('tdx/automata/tdxtcbeval.json'), headers: h }), 'malformed-body');
    expectFetchError(() => parseTcbInfoResponse({ body: 'garbage', headers: h }), 'malformed-body');
    expectFetchError(() => parseTcbInfoResponse({ body: '', headers: h }), 'malformed-body');
    expectFetchError(() => parseTcbInfoResponse({ body: good.slice(0, -20), headers: h }), 'malformed-body');
    expectFetchError(() => parseTcbInfoResponse({ body: good + 'x', headers: h }), 'malformed-body');
    expectFetchError(() => parseTcbInfoResponse({ body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), headers: h }), 'malformed-body');
    // Signature must be 64 bytes of hex.
    expectFetchError(() => parseTcbInfoResponse({ body: good.replace(/"signature":"[0-9a-f]+"/, '"signature":"abcd"'), headers: h }), 'malformed-body');
    // A second tcbInfo member (JSON.parse would keep the last one) is rejected.
    const dup = good.replace(/^\{/, `{"tcbInfo":{"id":"TDX"},`);
    expectFetchError(() => parseTcbInfoResponse({ body: dup, headers: h }), 'malformed-body');
    // The signed object must have the fields a TCB Info has.
    expectFetchError(() => parseTcbInfoResponse({ body: good.replace('"fmspc":"90c06f000000"', '"fmspc":"90c06f"'), headers: h }), 'malformed-body');
    expectFetchError(() => parseTcbInfoResponse({ body: good.replace(/"nextUpdate":"[^"]+"/, '"nextUpdate":"soon"'), headers: h }), 'malformed-body');
    expectFetchError(() => parseTcbInfoResponse({ body: good.replace(/"nextUpdate":"[^"]+"/, '"nextUpdate":"2020-01-01T00:00:00Z"'), headers: h }), 'malformed-body');
  });

  it('requires a well-formed issuer chain header', () => {
    const body = readSample('tdx/teep-agpl/tdx_tcb_90c06f000000.body.json');
    expectFetchError(() => parseTcbInfoResponse({ body }), 'missing-header');
    expectFetchError(() => parseTcbInfoResponse({ body, headers: { 'SGX-Enclave-Identity-Issuer-Chain': CHAIN.teepTcb } }), 'missing-header');
    expectFetchError(() => parseTcbInfoResponse({ body, headers: { 'TCB-Info-Issuer-Chain': '%E0%A4%A' } }), 'malformed-header');
    expectFetchError(() => parseTcbInfoResponse({ body, headers: { 'TCB-Info-Issuer-Chain': 'hello' } }), 'malformed-header');
    const trailing = encodeURIComponent(readSampleText('tdx/teep-agpl/tdx_tcb_90c06f000000.issuer-chain.pem') + 'junk');
    expectFetchError(() => parseTcbInfoResponse({ body, headers: { 'TCB-Info-Issuer-Chain': trailing } }), 'malformed-header');
    const badB64 = encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expectFetchError(() => parseTcbInfoResponse({ body, headers: { 'TCB-Info-Issuer-Chain': badB64 } }), 'malformed-header');
  });

  it('decodes the issuer chain header exactly as go-tdx-guest recorded it (URL-encoded PEM, "+" kept)', () => {
    const pem = readSampleText('tdx/go-tdx-guest/tcbInfoIssuerChain.pem');
    const ders = decodeIssuerChain(CHAIN.goTcb);
    expect(ders).toHaveLength(2);
    expect(new X509Certificate(ders[0]!).subject).toContain('CN=Intel SGX TCB Signing');
    expect(new X509Certificate(ders[1]!).subject).toContain('CN=Intel SGX Root CA');
    // "+" in base64 must not turn into a space: only %XX escapes are decoded.
    expect(pem).toContain('+');
    expect(decodeIssuerChain(CHAIN.goTcb.replace(/%2B/g, '+'))).toEqual(ders);
  });
});

describe('PCS QE Identity responses', () => {
  for (const c of QE_CASES) {
    it(`parses ${c.file}`, () => {
      const text = readSampleText(c.file);
      const item = parseQeIdentityResponse({ body: text, headers: { 'SGX-Enclave-Identity-Issuer-Chain': c.header } });
      expect(item.id).toBe(c.id);
      expect(item.version).toBe(2);
      expect(item.tcbEvaluationDataNumber).toBe(c.eval);
      expect(iso(item.issueDate)).toBe(c.issue);
      expect(iso(item.nextUpdate)).toBe(c.next);
      expect(text.startsWith(`{"enclaveIdentity":${item.json},"signature":"`)).toBe(true);
      expect(signatureVerifies(item.json, item.signature, item.issuerChain)).toBe(true);
    });
  }

  it('rejects a TCB Info body and a missing header', () => {
    const h = { 'SGX-Enclave-Identity-Issuer-Chain': CHAIN.teepQe };
    expectFetchError(() => parseQeIdentityResponse({ body: readSample('tdx/teep-agpl/tdx_tcb_90c06f000000.body.json'), headers: h }), 'malformed-body');
    expectFetchError(() => parseQeIdentityResponse({ body: readSample('tdx/teep-agpl/tdx_qe_identity.body.json') }), 'missing-header');
  });
});

describe('PCS CRL responses', () => {
  for (const c of PCK_CRL_CASES) {
    it(`parses PCK CRL ${c.file}`, () => {
      const der = readSample(c.file);
      const item = parsePckCrlResponse({ body: der, headers: { 'SGX-PCK-CRL-Issuer-Chain': c.header } });
      expect(item.der).toEqual(der);
      expect(iso(item.nextUpdate)).toBe(c.next);
      expect(item.issuerCommonName).toBe('Intel SGX PCK Platform CA');
      expect(item.issuerChain).toHaveLength(2);
      expect(new X509Certificate(item.issuerChain[0]!).subject).toContain('CN=Intel SGX PCK Platform CA');
      // PEM and hex bodies (PCS without encoding=der, PCCS) decode to the same DER.
      const pem = `-----BEGIN X509 CRL-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
      expect(parsePckCrlResponse({ body: pem, headers: { 'SGX-PCK-CRL-Issuer-Chain': c.header } }).der).toEqual(der);
      expect(parsePckCrlResponse({ body: toHex(der) + '\n', headers: { 'SGX-PCK-CRL-Issuer-Chain': c.header } }).der).toEqual(der);
    });
  }

  for (const c of ROOT_CRL_CASES) {
    it(`parses Root CA CRL ${c.file}`, () => {
      const der = readSample(c.file);
      const item = parseRootCaCrlResponse({ body: der });
      expect(item.der).toEqual(der);
      expect(item.issuerChain).toEqual([]);
      expect(item.issuerCommonName).toBe('Intel SGX Root CA');
      expect(iso(item.thisUpdate)).toBe(c.this);
      expect(iso(item.nextUpdate)).toBe(c.next);
      // PCCS `rootcacrl` answers hex text.
      expect(parseRootCaCrlResponse({ body: toHex(der) }).der).toEqual(der);
    });
  }

  it('parses the hex CRLs inside the dcap-qvl QuoteCollateralV3 samples', () => {
    for (const f of ['tdx/dcap-qvl/tdx_quote_collateral.json', 'tdx/dcap-qvl/near_quote_collateral.json', 'sgx/dcap-qvl/sgx_quote_collateral.json']) {
      const v3 = JSON.parse(readSampleText(f)) as { root_ca_crl: string; pck_crl: string; pck_crl_issuer_chain: string };
      expect(parseRootCaCrlResponse({ body: v3.root_ca_crl }).issuerCommonName).toBe('Intel SGX Root CA');
      const pck = parsePckCrlResponse({ body: v3.pck_crl, headers: { 'SGX-PCK-CRL-Issuer-Chain': pemChainHeader(v3.pck_crl_issuer_chain) } });
      expect(pck.issuerCommonName).toMatch(/^Intel SGX PCK (Platform|Processor) CA$/);
    }
  });

  it('rejects garbage, truncated and padded CRLs and a missing header', () => {
    const der = readSample('tdx/teep-agpl/pckcrl_platform.body.der');
    const h = { 'SGX-PCK-CRL-Issuer-Chain': CHAIN.teepPck };
    expectFetchError(() => parsePckCrlResponse({ body: der }), 'missing-header');
    expectFetchError(() => parsePckCrlResponse({ body: 'garbage', headers: h }), 'malformed-body');
    expectFetchError(() => parsePckCrlResponse({ body: new Uint8Array(0), headers: h }), 'malformed-body');
    expectFetchError(() => parsePckCrlResponse({ body: der.subarray(0, der.length - 1), headers: h }), 'malformed-body');
    const padded = new Uint8Array(der.length + 1);
    padded.set(der);
    expectFetchError(() => parsePckCrlResponse({ body: padded, headers: h }), 'malformed-body');
    expectFetchError(() => parseRootCaCrlResponse({ body: readSample('intel-common/automata/rootCaDer.der') }), 'malformed-body');
  });
});

describe('assembling IntelCollateral', () => {
  it('matches what dcap-qvl-format collateral of the same answers would give', () => {
    const tcb = parseTcbInfoResponse({ body: readSample('tdx/teep-agpl/tdx_tcb_90c06f000000.body.json'), headers: { 'TCB-Info-Issuer-Chain': CHAIN.teepTcb } });
    const qe = parseQeIdentityResponse({ body: readSample('tdx/teep-agpl/tdx_qe_identity.body.json'), headers: { 'SGX-Enclave-Identity-Issuer-Chain': CHAIN.teepQe } });
    const pck = parsePckCrlResponse({ body: readSample('tdx/teep-agpl/pckcrl_platform.body.der'), headers: { 'SGX-PCK-CRL-Issuer-Chain': CHAIN.teepPck } });
    const root = parseRootCaCrlResponse({ body: readSample('tdx/teep-agpl/root_ca_crl.body.der') });
    const c = toIntelCollateral({ tcbInfo: tcb, qeIdentity: qe, pckCrl: pck, rootCaCrl: root });
    const v3 = fromQuoteCollateralV3({
      tcb_info: tcb.json,
      tcb_info_signature: toHex(tcb.signature),
      tcb_info_issuer_chain: readSampleText('tdx/teep-agpl/tdx_tcb_90c06f000000.issuer-chain.pem'),
      qe_identity: qe.json,
      qe_identity_signature: toHex(qe.signature),
      qe_identity_issuer_chain: readSampleText('tdx/teep-agpl/tdx_qe_identity.issuer-chain.pem'),
      pck_crl: toHex(pck.der),
      pck_crl_issuer_chain: readSampleText('tdx/teep-agpl/pckcrl_platform.issuer-chain.pem'),
      root_ca_crl: toHex(root.der),
    });
    expect(c).toEqual(v3);
    // Copies: mutating the assembled collateral does not touch the parsed item.
    c.pckCrl[0] = 0;
    expect(pck.der[0]).toBe(0x30);
  });

  it('finds raw members with nested strings, escapes and numbers', () => {
    const text = ' {"a" : {"s":"}\\"{[","n":[1,-2.5e3,true,null]} , "b":"x\\u0041" ,"c":12}';
    const m = rawTopLevelMembers(text);
    expect(m.get('a')!.raw).toBe('{"s":"}\\"{[","n":[1,-2.5e3,true,null]}');
    expect(m.get('b')!.raw).toBe('"x\\u0041"');
    expect(m.get('c')!.raw).toBe('12');
    expect(() => rawTopLevelMembers('{"a":1,"a":2}')).toThrow(/duplicate/);
    expect(() => rawTopLevelMembers('[1]')).toThrow();
    expect(() => rawTopLevelMembers('{"a":{"b":1]}')).toThrow();
  });
});
