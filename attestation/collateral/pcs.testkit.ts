/**
 * Test kit (Node only, never imported by runtime code): a real HTTP server on 127.0.0.1 that replays recorded
 * Intel PCS answers, with hooks to misbehave and a request log.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { toBase64, toHex } from '../util/bytes.ts';

/** DER certificates to one PEM chain, in order. */
export function derToPemChain(ders: Uint8Array[]): string {
  return ders
    .map((d) => `-----BEGIN CERTIFICATE-----\n${toBase64(d).replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`)
    .join('');
}

/** A PEM chain as PCS puts it in an `*-Issuer-Chain` header (URL-encoded). */
export function pemChainHeader(pem: string): string {
  return encodeURIComponent(pem);
}

export interface RecordedAnswer {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** Answers by request path (with query). */
export type Generation = Record<string, RecordedAnswer>;

export type Misbehaviour = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface ReplayServer {
  readonly base: string;
  /** What is served now. */
  gen: Generation;
  /** Request paths, in arrival order. */
  requests: string[];
  /** Called first for every request; return true when it handled it. */
  misbehave: Misbehaviour | undefined;
  close(): Promise<void>;
}

export async function startReplayServer(gen: Generation): Promise<ReplayServer> {
  let server!: Server;
  const state: Omit<ReplayServer, 'base' | 'close'> = { gen, requests: [], misbehave: undefined };
  server = createServer((req, res) => {
    state.requests.push(req.url!);
    if (state.misbehave?.(req, res)) return;
    const a = state.gen[req.url!];
    if (!a) {
      res.writeHead(404, { 'Error-Code': 'NotFound' }).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': a.body.length, ...a.headers });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    base,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}

export const sec = (iso: string): number => Date.parse(iso) / 1000;

export const PATHS = {
  tdxTcb: (fmspc: string) => `/tdx/certification/v4/tcb?fmspc=${fmspc}`,
  sgxTcb: (fmspc: string) => `/sgx/certification/v4/tcb?fmspc=${fmspc}`,
  tdxQe: '/tdx/certification/v4/qe/identity',
  sgxQe: '/sgx/certification/v4/qe/identity',
  crl: (ca: 'platform' | 'processor') => `/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`,
  rootPccs: '/sgx/certification/v4/rootcacrl',
  rootIntel: '/IntelSGXRootCA.der',
} as const;

/** automata ships the signing certificates as DER; these are the headers PCS would have sent. */
export const AUTOMATA_SIGNING_CHAIN = pemChainHeader(
  derToPemChain([readSample('intel-common/automata/tcbSigningDer.der'), readSample('intel-common/automata/rootCaDer.der')]),
);
export const AUTOMATA_PLATFORM_CHAIN = pemChainHeader(
  derToPemChain([readSample('intel-common/automata/platformCaDer.der'), readSample('intel-common/automata/rootCaDer.der')]),
);

const tcbAnswer = (file: string, header = 'TCB-Info-Issuer-Chain', chain = AUTOMATA_SIGNING_CHAIN): RecordedAnswer => ({
  body: readSample(file),
  headers: { [header]: chain },
});

/** June 2025 (eval #17), automata-dcap-attestation's PCS bodies. PCCS-style hex root CA CRL. */
export const GEN_2025: Generation = {
  [PATHS.tdxTcb('90c06f000000')]: tcbAnswer('tdx/automata/tcbinfov3_90C06F000000.json'),
  [PATHS.tdxTcb('00806f050000')]: tcbAnswer('tdx/automata/tcbinfov3_00806f050000.json'),
  [PATHS.tdxQe]: { body: readSample('tdx/automata/qe_td.json'), headers: { 'SGX-Enclave-Identity-Issuer-Chain': AUTOMATA_SIGNING_CHAIN } },
  [PATHS.crl('platform')]: {
    body: readSample('tdx/automata/platformCrlDer_0625.der'),
    headers: { 'SGX-PCK-CRL-Issuer-Chain': AUTOMATA_PLATFORM_CHAIN },
  },
  [PATHS.rootPccs]: { body: new TextEncoder().encode(toHex(readSample('intel-common/automata/rootCrlDer.der'))), headers: {} },
};

/** August 2025 SGX (eval #17), automata. */
export const GEN_2025_SGX: Generation = {
  [PATHS.sgxTcb('00606a000000')]: tcbAnswer('sgx/automata/sgx_tcbinfov3_00606a000000.json', 'SGX-TCB-Info-Issuer-Chain'),
  [PATHS.sgxQe]: { body: readSample('sgx/automata/sgx_qeidentity_v4.json'), headers: { 'SGX-Enclave-Identity-Issuer-Chain': AUTOMATA_SIGNING_CHAIN } },
  [PATHS.crl('platform')]: { body: readSample('sgx/automata/platform_crl.der'), headers: { 'SGX-PCK-CRL-Issuer-Chain': AUTOMATA_PLATFORM_CHAIN } },
  [PATHS.rootPccs]: { body: readSample('intel-common/automata/rootCrlDer.der'), headers: {} },
};

/** June 2026 (eval #19), recorded from Intel PCS by teep, header names as recorded. */
export const GEN_2026: Generation = {
  [PATHS.tdxTcb('90c06f000000')]: tcbAnswer(
    'tdx/teep-agpl/tdx_tcb_90c06f000000.body.json',
    'Tcb-Info-Issuer-Chain',
    pemChainHeader(readSampleText('tdx/teep-agpl/tdx_tcb_90c06f000000.issuer-chain.pem')),
  ),
  [PATHS.tdxQe]: {
    body: readSample('tdx/teep-agpl/tdx_qe_identity.body.json'),
    headers: { 'Sgx-Enclave-Identity-Issuer-Chain': pemChainHeader(readSampleText('tdx/teep-agpl/tdx_qe_identity.issuer-chain.pem')) },
  },
  [PATHS.crl('platform')]: {
    body: readSample('tdx/teep-agpl/pckcrl_platform.body.der'),
    headers: { 'Sgx-Pck-Crl-Issuer-Chain': pemChainHeader(readSampleText('tdx/teep-agpl/pckcrl_platform.issuer-chain.pem')) },
  },
  [PATHS.rootPccs]: { body: readSample('tdx/teep-agpl/root_ca_crl.body.der'), headers: {} },
  [PATHS.rootIntel]: { body: readSample('tdx/teep-agpl/root_ca_crl.body.der'), headers: {} },
};
