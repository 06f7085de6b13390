/**
 * A web page script that uses the sealgate SDK through the official `openai`
 * client, for test/sdk-browser.test.ts, which bundles it with esbuild
 * (platform browser, ESM), serves it from a loopback origin of its own and
 * loads it in headless Chromium. The gateway and demo worker run on another
 * loopback port, so every call the SDK makes is a real cross-origin (CORS)
 * request.
 *
 * Configuration comes from the page URL's query: `?config=<JSON>` with
 * { gatewayUrl, apiKey, model, policy } (the client's policy trusts the
 * test's simulated TEE signer).
 *
 * On load it makes, in the browser: a non-streamed and a streamed sealed chat
 * completion (the SDK's default fetch is the page's global fetch); one under a
 * policy that refuses simulated TEEs (the SDK must refuse with its typed code,
 * before sending anything sealed); one whose sealed response has one
 * ciphertext byte of its final (receipt) frame flipped on the way back (the
 * SDK must reject it). It leaves everything it saw as JSON on
 * `window.__sealgateReport` (or the failure on `window.__sealgateFailure`);
 * the test reads and asserts.
 *
 * Mirrors test/workerd/sdk-worker.ts (same cases, same result shape), plus
 * what only a browser has: the page's origin and each response's `type`
 * ('cors' for a cross-origin fetch).
 */
import OpenAI from 'openai';
import { SealedFetchError, isSealedFetchError, sealedFetch, type PolicyInput, type Receipt, type ReceiptInfo } from '../../sdk/index.ts';
import { nativeSupport } from '../../sdk/hpke/index.ts';
import type { CallResult as WorkerdCallResult, ErrorReport } from '../workerd/sdk-worker.ts';

export type { ErrorReport };

export interface PageConfig {
  gatewayUrl: string;
  apiKey: string;
  model: string;
  policy: PolicyInput;
}

/** What one sealed call produced (the workerd test's shape, plus the fetched responses' `type`). */
export interface CallResult extends WorkerdCallResult {
  /** `Response.type` of each response the base fetch got: 'cors' when the gateway is on another origin. */
  responseTypes: string[];
}

export interface PageReport {
  runtime: {
    userAgent: string;
    origin: string;
    isSecureContext: boolean;
    hasProcess: boolean;
    hasBuffer: boolean;
    crypto: { x25519: string; ed25519: string };
  };
  nonStreamed: CallResult;
  streamed: CallResult;
  refused: CallResult;
  tampered: CallResult;
}

declare global {
  interface Window {
    __sealgateReport?: PageReport;
    __sealgateFailure?: string;
  }
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

/**
 * A sealed openai client in the page. `wrap` can replace the base fetch (to
 * record paths or alter responses); without it the SDK uses the page's fetch.
 */
function client(cfg: PageConfig, policy: PolicyInput, out: CallResult, wrap?: (f: typeof fetch) => typeof fetch): OpenAI {
  const recording: typeof fetch = async (input, init) => {
    out.fetched.push(urlOf(input).pathname);
    const res = await fetch(input, init);
    out.responseTypes.push(res.type);
    return res;
  };
  return new OpenAI({
    baseURL: `${cfg.gatewayUrl}/v1`,
    apiKey: cfg.apiKey,
    maxRetries: 0,
    dangerouslyAllowBrowser: true,
    fetch: sealedFetch({
      policy,
      // Record every call; the refusal and tamper cases also swap in their own base fetch.
      fetch: wrap ? wrap(recording) : recording,
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
}

const empty = (): CallResult => ({ ok: false, text: '', usage: null, mode: null, worker: null, chunks: 0, receipts: [], fetched: [], responseTypes: [], error: null });

async function nonStreamed(cfg: PageConfig, policy: PolicyInput, wrap?: (f: typeof fetch) => typeof fetch): Promise<CallResult> {
  const out = empty();
  try {
    const { data, response } = await client(cfg, policy, out, wrap).chat.completions.create({ model: cfg.model, messages: MESSAGES }).withResponse();
    out.text = data.choices[0]?.message.content ?? '';
    out.usage = data.usage ? { prompt_tokens: data.usage.prompt_tokens, completion_tokens: data.usage.completion_tokens, total_tokens: data.usage.total_tokens } : null;
    out.mode = response.headers.get('x-sealgate-mode');
    out.worker = response.headers.get('x-sealgate-worker');
    out.ok = true;
  } catch (e) {
    out.error = report(e);
  }
  return out;
}

async function streamed(cfg: PageConfig, policy: PolicyInput): Promise<CallResult> {
  const out = empty();
  try {
    const { data: stream, response } = await client(cfg, policy, out)
      .chat.completions.create({ model: cfg.model, messages: MESSAGES, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    out.mode = response.headers.get('x-sealgate-mode');
    out.worker = response.headers.get('x-sealgate-worker');
    for await (const c of stream) {
      out.chunks++;
      out.text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) out.usage = { prompt_tokens: c.usage.prompt_tokens, completion_tokens: c.usage.completion_tokens, total_tokens: c.usage.total_tokens };
    }
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

async function run(cfg: PageConfig): Promise<PageReport> {
  const g = globalThis as { process?: unknown; Buffer?: unknown };
  return {
    runtime: {
      userAgent: navigator.userAgent,
      origin: location.origin,
      isSecureContext: globalThis.isSecureContext,
      hasProcess: typeof g.process !== 'undefined',
      hasBuffer: typeof g.Buffer !== 'undefined',
      crypto: await nativeSupport(),
    },
    nonStreamed: await nonStreamed(cfg, cfg.policy),
    streamed: await streamed(cfg, cfg.policy),
    refused: await nonStreamed(cfg, { allowSimulated: false }),
    tampered: await nonStreamed(cfg, cfg.policy, tamperReceipt),
  };
}

const raw = new URLSearchParams(location.search).get('config');
(raw ? run(JSON.parse(raw) as PageConfig) : Promise.reject(new Error('no ?config= in the page URL'))).then(
  (r) => {
    window.__sealgateReport = r;
  },
  (e: unknown) => {
    window.__sealgateFailure = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  },
);
