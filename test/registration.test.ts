import { afterEach, describe, expect, it } from 'vitest';
import { reportDataFor } from '../attestation/binding.ts';
import { SimulatedTee } from '../attestation/simulated/index.ts';
import type { BindingClaims, EvidenceBundle } from '../attestation/types.ts';
import { toBase64, toHex } from '../attestation/util/bytes.ts';
import { DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { boundKeys, generateWorkerKeys } from '../enclave-runner/keys.ts';
import { startWorker } from '../enclave-runner/node.ts';
import { RegistrationError } from '../enclave-runner/worker.ts';
import { startStack, type TestStack } from './stack.ts';

let stack: TestStack;
afterEach(async () => stack?.close());

const MODELS = [{ id: 'sealgate-demo', digest: 'demo:sealgate-demo-summarizer-v1' }];

async function challenge(): Promise<string> {
  const r = await fetch(`${stack.gateway.url}/v1/workers/challenge`, { method: 'POST' });
  return ((await r.json()) as { nonce: string }).nonce;
}

/** Builds a registration the way a worker does, with knobs to make it wrong. */
async function registration(opts: { nonce: string; tee: SimulatedTee; bindNonce?: string; quoteAt?: number; swapKey?: boolean }) {
  const keys = generateWorkerKeys();
  const binding: BindingClaims = { keys: boundKeys(keys), nonce: opts.nonce, models: MODELS };
  const signedBinding = { ...binding, nonce: opts.bindNonce ?? opts.nonce };
  const quote = opts.tee.quote(await reportDataFor(signedBinding), opts.quoteAt);
  if (opts.swapKey) binding.keys = boundKeys(generateWorkerKeys());
  const bundle: EvidenceBundle = { version: 1, tee: { kind: 'simulated', evidence: toBase64(quote) }, binding };
  return { url: 'http://127.0.0.1:9', bundle, models: [{ id: 'sealgate-demo', endpoints: ['chat.completions'] }] };
}

async function register(body: unknown) {
  const r = await fetch(`${stack.gateway.url}/v1/workers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { error?: { code: string; message: string }; id?: string } };
}

describe('worker registration', () => {
  it('admits a worker whose evidence binds its keys and a fresh nonce', async () => {
    stack = await startStack();
    const tee = await SimulatedTee.create();
    const r = await register(await registration({ nonce: await challenge(), tee }));
    expect(r.status).toBe(200);
    expect(r.body.id).toMatch(/^wk_/);
  });

  it('refuses a nonce the gateway never issued', async () => {
    stack = await startStack();
    const r = await register(await registration({ nonce: toHex(crypto.getRandomValues(new Uint8Array(32))), tee: await SimulatedTee.create() }));
    expect(r.status).toBe(403);
    expect(r.body.error!.code).toBe('NONCE_UNKNOWN');
  });

  it('refuses a replayed nonce (single use), even with fresh evidence', async () => {
    stack = await startStack();
    const tee = await SimulatedTee.create();
    const nonce = await challenge();
    expect((await register(await registration({ nonce, tee }))).status).toBe(200);
    const again = await register(await registration({ nonce, tee }));
    expect(again.status).toBe(403);
    expect(again.body.error!.code).toBe('NONCE_UNKNOWN');
  });

  it('refuses an expired nonce', async () => {
    let clock = Date.now();
    stack = await startStack({ gateway: { challengeSeconds: 5, now: () => clock } });
    const nonce = await challenge();
    clock += 10_000;
    const r = await register(await registration({ nonce, tee: await SimulatedTee.create(), quoteAt: Math.floor(clock / 1000) }));
    expect(r.body.error!.code).toBe('NONCE_UNKNOWN');
  });

  it('refuses evidence whose report data binds another nonce', async () => {
    stack = await startStack();
    const other = await challenge();
    const r = await register(await registration({ nonce: await challenge(), bindNonce: other, tee: await SimulatedTee.create() }));
    expect(r.status).toBe(403);
    expect(r.body.error!.code).toBe('REPORT_DATA_MISMATCH');
  });

  it('refuses evidence whose report data binds other keys than those presented', async () => {
    stack = await startStack();
    const r = await register(await registration({ nonce: await challenge(), tee: await SimulatedTee.create(), swapKey: true }));
    expect(r.body.error!.code).toBe('REPORT_DATA_MISMATCH');
  });

  it('refuses simulated evidence unless the policy allows it', async () => {
    stack = await startStack({ policy: { allowSimulated: false } });
    const r = await register(await registration({ nonce: await challenge(), tee: await SimulatedTee.create() }));
    expect(r.body.error!.code).toBe('SIMULATED_NOT_ALLOWED');
  });

  it('refuses a debug TEE, an unpinned signer and stale evidence', async () => {
    const pinned = await SimulatedTee.create();
    stack = await startStack({ policy: { allowSimulated: true, simulated: { signers: [toHex(pinned.publicKey)] }, maxEvidenceAgeSeconds: 60 } });
    const debug = await register(await registration({ nonce: await challenge(), tee: await SimulatedTee.create({ debug: true }) }));
    expect(debug.body.error!.code).toBe('QUOTE_SIGNATURE_INVALID'); // unpinned signer is checked first
    const stale = await register(await registration({ nonce: await challenge(), tee: pinned, quoteAt: Math.floor(Date.now() / 1000) - 3600 }));
    expect(stale.body.error!.code).toBe('EVIDENCE_EXPIRED');
  });

  it('refuses a debug-mode simulated TEE', async () => {
    stack = await startStack();
    const r = await register(await registration({ nonce: await challenge(), tee: await SimulatedTee.create({ debug: true }) }));
    expect(r.body.error!.code).toBe('DEBUG_ENABLED');
  });

  it('refuses malformed registrations with 400', async () => {
    stack = await startStack();
    expect((await register({ url: 'ftp://x', bundle: {}, models: [] })).status).toBe(400);
    const reg = await registration({ nonce: await challenge(), tee: await SimulatedTee.create() });
    reg.bundle.tee.evidence = toBase64(new Uint8Array(10));
    const r = await register(reg);
    expect(r.status).toBe(403);
    expect(r.body.error!.code).toBe('UNSUPPORTED_FORMAT');
  });

  it('a refused worker gets a typed RegistrationError and is not listed', async () => {
    stack = await startStack({ policy: { allowSimulated: false } });
    const err = await startWorker({ gatewayUrl: stack.gateway.url, backend: new DemoBackend(), tee: await SimulatedTeeProvider.create() }).catch((e) => e);
    expect(err).toBeInstanceOf(RegistrationError);
    expect(err.code).toBe('SIMULATED_NOT_ALLOWED');
    const health = await (await fetch(`${stack.gateway.url}/healthz`)).json();
    expect(health.workers).toBe(0);
  });
});

describe('worker prices', () => {
  it('lists each worker\'s prices, keeps them fixed for its keys, and refuses prices for models it does not serve', async () => {
    stack = await startStack();
    const prices = { 'sealgate-demo': { prompt: '100', completion: '300' } };
    const w = await startWorker({ gatewayUrl: stack.gateway.url, backend: new DemoBackend(), tee: await SimulatedTeeProvider.create(), prices });
    const list = (await (await fetch(`${stack.gateway.url}/v1/workers`)).json()) as { data: Array<{ id: string; prices: unknown }> };
    expect(list.data.find((x) => x.id === w.worker.id)!.prices).toEqual(prices);
    // Re-attesting with the same terms is fine; changing them under the same keys is not.
    await w.worker.register();
    (w.worker as unknown as { opts: { prices: unknown } }).opts.prices = { 'sealgate-demo': { prompt: '101', completion: '300' } };
    const changed = await w.worker.register().catch((e: unknown) => e);
    expect(changed).toBeInstanceOf(RegistrationError);
    expect((changed as RegistrationError).status).toBe(409);
    expect((changed as RegistrationError).code).toBe('worker_terms_changed');
    const unserved = await startWorker({
      gatewayUrl: stack.gateway.url,
      backend: new DemoBackend(),
      tee: await SimulatedTeeProvider.create(),
      prices: { other: { prompt: '1', completion: '1' } },
    }).catch((e: unknown) => e);
    expect((unserved as RegistrationError).status).toBe(400);
    const bad = await startWorker({
      gatewayUrl: stack.gateway.url,
      backend: new DemoBackend(),
      tee: await SimulatedTeeProvider.create(),
      prices: { 'sealgate-demo': { prompt: '-1', completion: '1' } },
    }).catch((e: unknown) => e);
    expect((bad as RegistrationError).status).toBe(400);
    await w.kill();
  });
});

describe('worker lifecycle', () => {
  it('heartbeats need the worker token; deregistration removes the model; re-registration keeps the id', async () => {
    stack = await startStack();
    const w = await stack.addWorker();
    const id = w.worker.id!;
    const hb = await fetch(`${stack.gateway.url}/v1/workers/${id}/heartbeat`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ inFlight: 0 }),
    });
    expect(hb.status).toBe(401);
    await w.worker.register();
    expect(w.worker.id).toBe(id);
    expect((await stack.client().models.list()).data.map((m) => m.id)).toEqual(['sealgate-demo']);
    await w.stop();
    expect((await stack.client().models.list()).data).toEqual([]);
    const err = await stack.client().chat.completions.create({ model: 'sealgate-demo', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    expect(err.status).toBe(503);
    expect(err.headers.get('retry-after')).toBeTruthy();
  });

  it('stops routing to a worker whose admission expired', async () => {
    let clock = Date.now();
    stack = await startStack({ gateway: { admissionSeconds: 30, heartbeatMs: 600_000, now: () => clock } });
    await stack.addWorker();
    expect((await stack.client().models.list()).data).toHaveLength(1);
    clock += 31_000;
    expect((await stack.client().models.list()).data).toHaveLength(0);
  });

  it('re-attests with fresh evidence before its admission runs out', async () => {
    stack = await startStack({ gateway: { admissionSeconds: 2, heartbeatMs: 150 } });
    const w = await stack.addWorker();
    const first = stack.gateway.registry.get(w.worker.id!)!.verdict.evaluatedAt;
    const firstUntil = stack.gateway.registry.get(w.worker.id!)!.admittedUntil;
    await new Promise((r) => setTimeout(r, 3000));
    const now = stack.gateway.registry.get(w.worker.id!)!;
    expect(now.admittedUntil).toBeGreaterThan(firstUntil);
    expect(now.verdict.evaluatedAt).toBeGreaterThanOrEqual(first);
    expect((await stack.client().models.list()).data).toHaveLength(1);
  });

  it('stops routing to a worker whose heartbeats stop', async () => {
    stack = await startStack({ gateway: { heartbeatMs: 100 } });
    const w = await stack.addWorker();
    expect((await stack.client().models.list()).data).toHaveLength(1);
    await w.kill();
    await new Promise((r) => setTimeout(r, 500));
    expect((await stack.client().models.list()).data).toHaveLength(0);
  });
});
