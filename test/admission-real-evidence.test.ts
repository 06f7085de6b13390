/**
 * Gateway admission runs real evidence through the real verifiers: a recorded
 * Intel TDX quote, with collateral fetched from a PCCS-shaped server on
 * loopback, passes signatures, chain, collateral, TCB and policy — and is then
 * refused because its report data does not bind the presented keys and nonce.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../attestation/index.ts';
import { GEN_2026, startReplayServer, type ReplayServer } from '../attestation/collateral/pcs.testkit.ts';
import { parseDcapQuote } from '../attestation/tdx/index.ts';
import { toBase64, toHex } from '../attestation/util/bytes.ts';
import { boundKeys, generateWorkerKeys } from '../enclave-runner/keys.ts';
import { startStack, type TestStack } from './stack.ts';
import { readSample } from './testdata.ts';

const QUOTE = readSample('tdx/teep-agpl/tinfoil_tdx_quote_v4.bin');
const AT = 1782698882; // SOURCES.md: inside the teep-agpl collateral window

let pccs: ReplayServer;
let stack: TestStack | undefined;
beforeAll(async () => {
  pccs = await startReplayServer(GEN_2026);
});
afterAll(() => pccs.close());
afterEach(async () => {
  await stack?.close();
  stack = undefined;
  pccs.misbehave = undefined;
});

function policyFor(mrtd: string) {
  const body = parseDcapQuote(QUOTE).body as { report: { tdAttributes: Uint8Array } };
  return { tdx: { measurements: [{ mrtd }], tdAttributes: [toHex(body.report.tdAttributes)] } };
}
const realMrtd = () => toHex((parseDcapQuote(QUOTE).body as { report: { mrTd: Uint8Array } }).report.mrTd);

async function registerRealQuote(nowSeconds: number, mrtd: string) {
  stack = await startStack({
    policy: policyFor(mrtd),
    gateway: { verify: createVerifier({ pccsUrl: pccs.base, now: () => nowSeconds }), now: () => nowSeconds * 1000 },
  });
  const { nonce } = (await (await fetch(`${stack.gateway.url}/v1/workers/challenge`, { method: 'POST' })).json()) as { nonce: string };
  const bundle = {
    version: 1,
    tee: { kind: 'tdx', evidence: toBase64(QUOTE) },
    binding: { keys: boundKeys(generateWorkerKeys()), nonce, models: [{ id: 'm', digest: 'sha256:00' }] },
  };
  const r = await fetch(`${stack.gateway.url}/v1/workers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'http://127.0.0.1:9', bundle, models: [{ id: 'm', endpoints: ['chat.completions'] }] }),
  });
  return { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code };
}

describe('admission with a real TDX quote', () => {
  it('verifies everything and then refuses the unbound report data', async () => {
    expect(await registerRealQuote(AT, realMrtd())).toEqual({ status: 403, code: 'REPORT_DATA_MISMATCH' });
    expect(pccs.requests.length).toBeGreaterThan(0);
  });

  it('refuses measurements the policy does not allow', async () => {
    expect(await registerRealQuote(AT, 'ab'.repeat(48))).toEqual({ status: 403, code: 'MEASUREMENT_NOT_ALLOWED' });
  });

  it('fails closed when the collateral source fails', async () => {
    pccs.misbehave = (_req, res) => {
      res.writeHead(500);
      res.end();
      return true;
    };
    expect(await registerRealQuote(AT + 1, realMrtd())).toEqual({ status: 403, code: 'COLLATERAL_UNAVAILABLE' });
  });

  it('refuses the same quote once its collateral has expired', async () => {
    const r = await registerRealQuote(AT + 90 * 24 * 3600, realMrtd());
    expect(r.status).toBe(403);
    expect(['COLLATERAL_EXPIRED', 'CERT_EXPIRED']).toContain(r.code);
  });
});
