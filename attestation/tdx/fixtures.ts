/**
 * Test-only: the real Intel DCAP samples from `../shared/testdata/attestation`
 * (see its SOURCES.md) with their collateral and evaluation times. Not
 * imported by any runtime module.
 */
import { readSample, readSampleText } from '../../test/testdata.ts';
import { fromHex } from '../util/bytes.ts';
import { pemToDerList } from '../x509/index.ts';
import { intelCollateralFromPcs, type IntelCollateral } from './collateral.ts';

export const iso = (s: string): number => Date.parse(s) / 1000;
const hexSample = (p: string) => fromHex(readSampleText(p).trim());
const json = (p: string): unknown => JSON.parse(readSampleText(p));
const chain = (p: string) => pemToDerList(readSampleText(p));

/** One sample with its expected outcome per SOURCES.md. */
export interface DcapSample {
  name: string;
  quote: Uint8Array;
  collateral?: unknown;
  now: number;
  /** Expected: a TCB status with advisories, or an error code. */
  expect: { status: string; advisories: string[] } | { error: string };
  /** The validity window stated in SOURCES.md (unix seconds, inclusive). */
  window?: [number, number];
  tee: 'tdx' | 'sgx';
}

let cache: DcapSample[] | undefined;

export function goTdxGuestCollateral(): IntelCollateral {
  return intelCollateralFromPcs({
    tcbInfoBody: readSampleText('tdx/go-tdx-guest/sample_tcbInfo_response'),
    tcbInfoIssuerChain: chain('tdx/go-tdx-guest/tcbInfoIssuerChain.pem'),
    qeIdentityBody: readSampleText('tdx/go-tdx-guest/sample_qeIdentity_response'),
    qeIdentityIssuerChain: chain('tdx/go-tdx-guest/qeIdentityIssuerChain.pem'),
    pckCrl: readSample('tdx/go-tdx-guest/pckcrl'),
    pckCrlIssuerChain: chain('tdx/go-tdx-guest/pckCrlIssuerChain.pem'),
    rootCaCrl: readSample('tdx/go-tdx-guest/rootcrl.der'),
  });
}

export function teepCollateral(): IntelCollateral {
  return intelCollateralFromPcs({
    tcbInfoBody: readSampleText('tdx/teep-agpl/tdx_tcb_90c06f000000.body.json'),
    tcbInfoIssuerChain: chain('tdx/teep-agpl/tdx_tcb_90c06f000000.issuer-chain.pem'),
    qeIdentityBody: readSampleText('tdx/teep-agpl/tdx_qe_identity.body.json'),
    qeIdentityIssuerChain: chain('tdx/teep-agpl/tdx_qe_identity.issuer-chain.pem'),
    pckCrl: readSample('tdx/teep-agpl/pckcrl_platform.body.der'),
    pckCrlIssuerChain: chain('tdx/teep-agpl/pckcrl_platform.issuer-chain.pem'),
    rootCaCrl: readSample('tdx/teep-agpl/root_ca_crl.body.der'),
  });
}

/** Automata's PCS bodies with the 2025 TCB Signing cert and root CRL from `intel-common/automata`. */
export function automataCollateral(tcb: string, qe: string, crl: string): IntelCollateral {
  const signing = [readSample('intel-common/automata/tcbSigningDer.der'), readSample('intel-common/automata/rootCaDer.der')];
  return intelCollateralFromPcs({
    tcbInfoBody: readSampleText(tcb),
    tcbInfoIssuerChain: signing,
    qeIdentityBody: readSampleText(qe),
    qeIdentityIssuerChain: signing,
    pckCrl: readSample(crl),
    rootCaCrl: readSample('intel-common/automata/rootCrlDer.der'),
  });
}

/** Every sample of SOURCES.md's TDX and SGX sections that has collateral. */
export function dcapSamples(): DcapSample[] {
  if (cache) return cache;
  const dcapQvlTdx = json('tdx/dcap-qvl/tdx_quote_collateral.json');
  const automataTdx = automataCollateral('tdx/automata/tcbinfov3_00806f050000.json', 'tdx/automata/qe_td.json', 'tdx/automata/platformCrlDer_0625.der');
  const upToDate = { status: 'UpToDate', advisories: [] };
  cache = [
    {
      name: 'dcap-qvl tdx_quote (v4)',
      quote: readSample('tdx/dcap-qvl/tdx_quote'),
      collateral: dcapQvlTdx,
      now: 1752919234,
      expect: upToDate,
      window: [iso('2025-06-19T10:32:27Z'), iso('2025-07-19T10:00:35Z')],
      tee: 'tdx',
    },
    {
      name: 'dcap-qvl tdx_quote_outdated (v5, TD1.5)',
      quote: readSample('tdx/dcap-qvl/tdx_quote_outdated'),
      collateral: json('tdx/dcap-qvl/tdx_quote_outdated_collateral.json'),
      now: 1774003274,
      expect: { error: 'TCB_NO_MATCH' },
      window: [iso('2026-02-18T10:58:51Z'), iso('2026-03-20T10:41:15Z')],
      tee: 'tdx',
    },
    {
      name: 'dcap-qvl near_quote (v4)',
      quote: hexSample('tdx/dcap-qvl/near_quote_hex.txt'),
      collateral: json('tdx/dcap-qvl/near_quote_collateral.json'),
      now: 1757462400,
      expect: upToDate,
      window: [iso('2025-09-02T07:41:59Z'), iso('2025-10-02T07:03:51Z')],
      tee: 'tdx',
    },
    {
      name: 'go-tdx-guest tdx_prod_quote_SPR_E4 (v4)',
      quote: readSample('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat'),
      collateral: goTdxGuestCollateral(),
      now: 1688173200,
      expect: { error: 'TCB_NO_MATCH' },
      window: [iso('2023-06-18T08:42:58Z'), iso('2023-07-08T07:24:59Z')],
      tee: 'tdx',
    },
    {
      name: 'go-tdx-guest quote_v5_sample (v5) with teep collateral',
      quote: readSample('tdx/go-tdx-guest/quote_v5_sample.dat'),
      collateral: teepCollateral(),
      now: iso('2026-06-29T02:08:02Z'),
      expect: upToDate,
      window: [iso('2026-06-29T01:42:47Z'), iso('2026-07-29T00:55:06Z')],
      tee: 'tdx',
    },
    {
      name: 'go-tdx-guest cos-113 (v4, 8000 B padded) with automata collateral',
      quote: readSample('tdx/go-tdx-guest/cos-113-tdx-quote.dat'),
      collateral: automataTdx,
      now: 1749095100,
      expect: upToDate,
      window: [iso('2025-06-04T09:51:38Z'), iso('2025-07-04T09:19:31Z')],
      tee: 'tdx',
    },
    {
      name: 'automata tdx_quote_v4_00806f050000',
      quote: hexSample('tdx/automata/tdx_quote_v4_00806f050000.hex'),
      collateral: automataTdx,
      now: 1749095100,
      expect: { status: 'OutOfDate', advisories: ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986'] },
      window: [iso('2025-06-04T09:51:38Z'), iso('2025-07-04T09:19:31Z')],
      tee: 'tdx',
    },
    {
      name: 'automata alibaba_quote_5 (v5, TD1.5)',
      quote: readSample('tdx/automata/alibaba_quote_5.dat'),
      collateral: automataCollateral('tdx/automata/tcbinfov3_90C06F000000.json', 'tdx/automata/qe_td.json', 'tdx/automata/platformCrlDer_0625.der'),
      now: 1749945600,
      expect: upToDate,
      window: [iso('2025-06-14T16:04:26Z'), iso('2025-07-04T09:19:31Z')],
      tee: 'tdx',
    },
    {
      name: 'teep-agpl tinfoil_tdx_quote_v4',
      quote: readSample('tdx/teep-agpl/tinfoil_tdx_quote_v4.bin'),
      collateral: teepCollateral(),
      now: 1782698882,
      expect: upToDate,
      window: [iso('2026-06-29T01:42:47Z'), iso('2026-07-29T00:55:06Z')],
      tee: 'tdx',
    },
    {
      name: 'dcap-qvl sgx_quote (v3)',
      quote: readSample('sgx/dcap-qvl/sgx_quote'),
      collateral: json('sgx/dcap-qvl/sgx_quote_collateral.json'),
      now: 1752919277,
      expect: { status: 'ConfigurationAndSWHardeningNeeded', advisories: ['INTEL-SA-00289', 'INTEL-SA-00615'] },
      window: [iso('2025-06-19T10:56:11Z'), iso('2025-07-19T10:01:18Z')],
      tee: 'sgx',
    },
    {
      name: 'automata sgx_quote_v3_00606a000000',
      quote: hexSample('sgx/automata/sgx_quote_v3_00606a000000.hex'),
      collateral: automataCollateral('sgx/automata/sgx_tcbinfov3_00606a000000.json', 'sgx/automata/sgx_qeidentity_v4.json', 'sgx/automata/platform_crl.der'),
      now: 1755236700,
      expect: { status: 'SWHardeningNeeded', advisories: ['INTEL-SA-00615'] },
      window: [iso('2025-08-15T05:41:26Z'), iso('2025-09-14T04:36:46Z')],
      tee: 'sgx',
    },
  ];
  return cache;
}

/** Parse-only samples (SOURCES: outcome UNKNOWN; no TCB level matches the dcap-qvl collateral). */
export function parseOnlySamples(): Array<{ name: string; quote: Uint8Array }> {
  return [
    { name: 'dcap-qvl tdx-quote.hex', quote: hexSample('tdx/dcap-qvl/tdx-quote.hex') },
    { name: 'dcap-qvl quote-from-tappd.hex', quote: hexSample('tdx/dcap-qvl/quote-from-tappd.hex') },
  ];
}

export function dcapQvlTdxCollateral(): unknown {
  return json('tdx/dcap-qvl/tdx_quote_collateral.json');
}
