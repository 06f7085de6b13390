/**
 * What the SDK scenarios (test/runtimes/sdk-scenarios.ts) must show in any
 * runtime: test/sdk-workerd.test.ts and test/sdk-browser.test.ts call these
 * on the report their runtime produced, and add what only that runtime has.
 */
import { expect } from 'vitest';
import { nodeImports, type Bundle } from './bundle.ts';
import type { CallResult } from './sdk-scenarios.ts';

/** What the calls should have met: the demo worker that served them and its model. */
export interface Served {
  workerId: string;
  model: string;
}

/** The demo backend's summary of the scenarios' chat mentions this. */
const EXPECTED_TEXT = 'payment bug';

/** A bundle of the scenarios for a web platform: the SDK, attestation and openai, no server code, no Node built-ins. */
export function expectWebSdkBundle(b: Bundle): void {
  expect(b.inputs.some((p) => p.startsWith('sdk/client/'))).toBe(true);
  expect(b.inputs.some((p) => p.startsWith('attestation/'))).toBe(true);
  expect(b.inputs.some((p) => p.includes('node_modules/openai/'))).toBe(true);
  expect(b.inputs.filter((p) => /^(gateway|enclave-runner|cli)\//.test(p))).toEqual([]);
  expect(nodeImports(b)).toEqual([]);
}

/** Every call recorded a response type per fetch (whatever the runtime says it is). */
function expectRecorded(r: CallResult): void {
  expect(r.responseTypes).toHaveLength(r.fetched.length);
}

/** A call answered sealed by the worker (after listing workers, one sealed request), with one verified receipt. */
function expectAnsweredSealed(r: CallResult, s: Served): void {
  expect(r.error).toBeNull();
  expect(r.ok).toBe(true);
  expect(r.fetched).toEqual(['/v1/workers', '/v1/sealed']);
  expectRecorded(r);
  expect(r.mode).toBe('sealed');
  expect(r.worker).toBe(s.workerId);
  expect(r.text).toContain(EXPECTED_TEXT);
  expect(r.receipts).toHaveLength(1);
  // (In a page, x-request-id crosses CORS only because the gateway exposes it.)
  expect(r.receipts[0]!.requestId).toBeTruthy();
}

/** nonStreamed: answered sealed, its receipt matching the usage. */
export function expectNonStreamed(r: CallResult, s: Served): void {
  expectAnsweredSealed(r, s);
  expect(r.usage!.completion_tokens).toBeGreaterThan(0);
  expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
  expect(r.receipts[0]).toMatchObject({
    v: 1,
    model: s.model,
    endpoint: 'chat.completions',
    workerId: s.workerId,
    infoWorkerId: s.workerId,
    promptTokens: r.usage!.prompt_tokens,
    completionTokens: r.usage!.completion_tokens,
    attempts: 1,
  });
  expect(r.receipts[0]!.requestDigest).toMatch(/^[0-9a-f]{64}$/);
}

/** streamed: answered sealed chunk by chunk (more chunks than completion tokens), usage in the last, then the receipt. */
export function expectStreamed(r: CallResult, s: Served): void {
  expectAnsweredSealed(r, s);
  expect(r.usage!.completion_tokens).toBeGreaterThan(5);
  expect(r.chunks).toBeGreaterThan(r.usage!.completion_tokens);
  expect(r.receipts[0]).toMatchObject({ endpoint: 'chat.completions', workerId: s.workerId, completionTokens: r.usage!.completion_tokens });
}

/** refused: the typed NO_VERIFIED_WORKER (the worker is SIMULATED_NOT_ALLOWED), after listing workers only. */
export function expectRefused(r: CallResult, s: Served): void {
  expect(r.ok).toBe(false);
  expect(r.receipts).toEqual([]);
  expect(r.error).toMatchObject({
    openaiClass: 'APIConnectionError',
    sealed: { code: 'NO_VERIFIED_WORKER', workers: [{ id: s.workerId, code: 'SIMULATED_NOT_ALLOWED' }], attempts: 0 },
  });
  expect(r.fetched).toEqual(['/v1/workers']);
  expectRecorded(r);
}

/** tampered: RESPONSE_REJECTED with OPEN_FAILED, no text and no receipt. */
export function expectTampered(r: CallResult): void {
  expect(r.ok).toBe(false);
  expect(r.text).toBe('');
  expect(r.receipts).toEqual([]);
  expect(r.error!.sealed ?? r.error).toMatchObject({ code: 'RESPONSE_REJECTED', sealCode: 'OPEN_FAILED' });
  expect(r.fetched).toEqual(['/v1/workers', '/v1/sealed']);
  expectRecorded(r);
}
