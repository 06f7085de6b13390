/**
 * What the sealgate SDK must do in any JavaScript runtime, through the official
 * `openai` client: the cases that test/workerd/sdk-worker.ts (bundled and run
 * in workerd) and test/browser/sdk-page.ts (bundled and loaded in headless
 * Chromium) both run, with one result shape, that test/sdk-workerd.test.ts
 * and test/sdk-browser.test.ts check with test/runtimes/sdk-assertions.ts.
 *
 * `runScenarios(config)` makes, in the runtime it is bundled into:
 * - nonStreamed: a non-streamed sealed chat completion;
 * - streamed: a streamed one with `stream_options.include_usage`;
 *   both with the SDK's default base fetch (the runtime's global `fetch`);
 * - refused: one under a policy that refuses simulated TEEs (the SDK must
 *   refuse with its typed code, before sending anything sealed);
 * - tampered: one whose sealed response has one ciphertext byte of its final
 *   (receipt) frame flipped on the way back (the SDK must reject it);
 * and reports what it saw, with what it can tell of the runtime.
 *
 * Web standards only, here and in what this imports: a Node-only API in the
 * SDK fails the bundle (no Node built-ins resolvable) or the run.
 */
import OpenAI from 'openai';
import { SealedFetchError, isSealedFetchError, sealedFetch, type PolicyInput, type Receipt, type ReceiptInfo } from '../../sdk/index.ts';
import { nativeSupport } from '../../sdk/hpke/index.ts';

/** Where and as whom the scenarios call. */
export interface ScenarioConfig {
  gatewayUrl: string;
  apiKey: string;
  model: string;
  /** The client's policy (the test's: trusts its simulated TEE signer). */
  policy: PolicyInput;
}

/** What one sealed call produced. */
export interface CallResult {
  ok: boolean;
  text: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  /** `x-sealgate-mode` of the response the openai client got (non-streamed: from `.withResponse()`). */
  mode: string | null;
  worker: string | null;
  chunks: number;
  /** Receipts the SDK verified and handed to `onReceipt` during this call. */
  receipts: Array<Pick<Receipt, 'v' | 'model' | 'endpoint' | 'workerId' | 'requestDigest' | 'promptTokens' | 'completionTokens'> & { infoWorkerId: string; requestId: string | null; attempts: number }>;
  /** URL paths the SDK fetched, in order. */
  fetched: string[];
  /** `Response.type` of each of those responses ('cors' in a page for a gateway on another origin; null where the runtime has none). */
  responseTypes: Array<string | null>;
  error: ErrorReport | null;
}

export interface ErrorReport {
  name: string;
  /** The openai error class the call rejected with (APIConnectionError, APIError, ...). */
  openaiClass: string | null;
  /** The `SealedFetchError` found as the error or its cause, if any. */
  sealed: { code: string; sealCode: string | null; workers: Array<{ id: string; code: string }>; attempts: number } | null;
  /** `code` of an OpenAI APIError (e.g. a stream error event's seal code). */
  apiCode: string | null;
  message: string;
}

export interface ScenarioReport {
  runtime: {
    userAgent: string | null;
    /** The page's origin; null outside a page. */
    origin: string | null;
    /** `globalThis.isSecureContext`; null where the runtime does not define it. */
    isSecureContext: boolean | null;
    hasProcess: boolean;
    hasBuffer: boolean;
    crypto: { x25519: string; ed25519: string };
  };
  nonStreamed: CallResult;
  streamed: CallResult;
  refused: CallResult;
  tampered: CallResult;
}

const MESSAGES = [
  { role: 'system' as const, content: 'You summarize chats.' },
  { role: 'user' as const, content: 'Project launch moved to Friday because QA found a blocking bug in the payment flow.' },
  { role: 'user' as const, content: 'Alice fixes the payment bug by Wednesday. The marketing email moves to Friday too.' },
];

function classOf(e: unknown): string | null {
  const classes = { APIConnectionError: OpenAI.APIConnectionError, AuthenticationError: OpenAI.AuthenticationError, NotFoundError: OpenAI.NotFoundError, BadRequestError: OpenAI.BadRequestError, APIError: OpenAI.APIError };
  for (const [name, cls] of Object.entries(classes)) if (e instanceof cls) return name;
  return null;
}

function report(e: unknown): ErrorReport {
  const cause = (e as { cause?: unknown } | null)?.cause;
  const s = isSealedFetchError(e) ? e : cause instanceof SealedFetchError ? cause : null;
  return {
    name: e instanceof Error ? e.name : typeof e,
    openaiClass: classOf(e),
    sealed: s ? { code: s.code, sealCode: s.sealCode ?? null, workers: s.workers.map((w) => ({ id: w.id, code: w.code })), attempts: s.attempts.length } : null,
    apiCode: e instanceof OpenAI.APIError ? (e.code ?? null) : null,
    message: e instanceof Error ? e.message : String(e),
  };
}

const urlOf = (input: RequestInfo | URL): URL => new URL(input instanceof Request ? input.url : String(input));

/** `f`, recording into `out` the path and response type of every call. */
const recorded =
  (f: typeof fetch, out: CallResult): typeof fetch =>
  async (input, init) => {
    out.fetched.push(urlOf(input).pathname);
    const res = await f(input, init);
    out.responseTypes.push(res.type ?? null);
    return res;
  };

/**
 * How a call's base fetch is made: 'default' leaves the SDK's own (a call of
 * the global `fetch`), observed by swapping the global for the call; a
 * function gets the runtime's fetch, recorded, and returns the base fetch
 * (identity, or one that alters responses).
 */
type Base = 'default' | ((f: typeof fetch) => typeof fetch);

/** A sealed openai client recording into `out`, then `call` with it. */
async function withClient<T>(cfg: ScenarioConfig, policy: PolicyInput, base: Base, out: CallResult, call: (c: OpenAI) => Promise<T>): Promise<T> {
  const runtimeFetch = globalThis.fetch;
  const native: typeof fetch = (input, init) => runtimeFetch.call(globalThis, input, init);
  const c = new OpenAI({
    baseURL: `${cfg.gatewayUrl}/v1`,
    apiKey: cfg.apiKey,
    maxRetries: 0,
    dangerouslyAllowBrowser: true,
    fetch: sealedFetch({
      policy,
      ...(base === 'default' ? {} : { fetch: base(recorded(native, out)) }),
      onReceipt: (r: Receipt, info: ReceiptInfo) =>
        out.receipts.push({
          v: r.v,
          model: r.model,
          endpoint: r.endpoint,
          workerId: r.workerId,
          requestDigest: r.requestDigest,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          infoWorkerId: info.workerId,
          requestId: info.requestId,
          attempts: info.attempts.length,
        }),
    }),
  });
  if (base !== 'default') return call(c);
  globalThis.fetch = recorded(native, out);
  try {
    return await call(c);
  } finally {
    globalThis.fetch = runtimeFetch;
  }
}

const empty = (): CallResult => ({ ok: false, text: '', usage: null, mode: null, worker: null, chunks: 0, receipts: [], fetched: [], responseTypes: [], error: null });

async function nonStreamed(cfg: ScenarioConfig, policy: PolicyInput, base: Base): Promise<CallResult> {
  const out = empty();
  try {
    await withClient(cfg, policy, base, out, async (c) => {
      const { data, response } = await c.chat.completions.create({ model: cfg.model, messages: MESSAGES }).withResponse();
      out.text = data.choices[0]?.message.content ?? '';
      out.usage = data.usage ? { prompt_tokens: data.usage.prompt_tokens, completion_tokens: data.usage.completion_tokens, total_tokens: data.usage.total_tokens } : null;
      out.mode = response.headers.get('x-sealgate-mode');
      out.worker = response.headers.get('x-sealgate-worker');
    });
    out.ok = true;
  } catch (e) {
    out.error = report(e);
  }
  return out;
}

async function streamed(cfg: ScenarioConfig, policy: PolicyInput, base: Base): Promise<CallResult> {
  const out = empty();
  try {
    await withClient(cfg, policy, base, out, async (c) => {
      const { data: stream, response } = await c.chat.completions
        .create({ model: cfg.model, messages: MESSAGES, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      out.mode = response.headers.get('x-sealgate-mode');
      out.worker = response.headers.get('x-sealgate-worker');
      for await (const chunk of stream) {
        out.chunks++;
        out.text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) out.usage = { prompt_tokens: chunk.usage.prompt_tokens, completion_tokens: chunk.usage.completion_tokens, total_tokens: chunk.usage.total_tokens };
      }
    });
    out.ok = true;
  } catch (e) {
    out.error = report(e);
  }
  return out;
}

/** Flips one ciphertext byte of the final frame (the receipt) of a sealed response. */
const tamperReceipt =
  (f: typeof fetch): typeof fetch =>
  async (input, init) => {
    const res = await f(input, init);
    if (!urlOf(input).pathname.endsWith('/v1/sealed') || res.status !== 200) return res;
    const b = new Uint8Array(await res.arrayBuffer());
    b[b.length - 5]! ^= 1;
    return new Response(b, { status: res.status, headers: res.headers });
  };

/** Runs every case, one after the other, in this runtime. */
export async function runScenarios(cfg: ScenarioConfig): Promise<ScenarioReport> {
  const g = globalThis as { process?: unknown; Buffer?: unknown; navigator?: { userAgent?: string }; location?: { origin?: string }; isSecureContext?: boolean };
  return {
    runtime: {
      userAgent: g.navigator?.userAgent ?? null,
      origin: g.location?.origin ?? null,
      isSecureContext: g.isSecureContext ?? null,
      hasProcess: typeof g.process !== 'undefined',
      hasBuffer: typeof g.Buffer !== 'undefined',
      crypto: await nativeSupport(),
    },
    nonStreamed: await nonStreamed(cfg, cfg.policy, 'default'),
    streamed: await streamed(cfg, cfg.policy, 'default'),
    refused: await nonStreamed(cfg, { allowSimulated: false }, (f) => f),
    tampered: await nonStreamed(cfg, cfg.policy, tamperReceipt),
  };
}
