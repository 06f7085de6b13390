/**
 * A Cloudflare Worker (module syntax) that uses the sealgate SDK through the
 * official `openai` client, for test/sdk-workerd.test.ts, which bundles it
 * with esbuild and runs it in workerd (Miniflare) against a real gateway and
 * demo worker on loopback.
 *
 * Bindings: GATEWAY_URL, API_KEY, MODEL, POLICY (the client's policy, JSON
 * that trusts the test's simulated TEE signer).
 *
 * `GET /run` makes, in workerd: a non-streamed and a streamed sealed chat
 * completion (the SDK's default fetch is workerd's global fetch); one under a
 * policy that refuses simulated TEEs (the SDK must refuse with its typed code,
 * before sending anything sealed); one whose sealed response has one
 * ciphertext byte of its final (receipt) frame flipped on the way back (the
 * SDK must reject it). It answers everything it saw as JSON; the test asserts.
 *
 * Only web-standard globals are used here and by what it imports: a Node-only
 * API in the SDK fails the bundle (platform neutral) or this worker at run time.
 */
import OpenAI from 'openai';
import { SealedFetchError, isSealedFetchError, sealedFetch, type PolicyInput, type Receipt, type ReceiptInfo } from '../../sdk/index.ts';
import { nativeSupport } from '../../sdk/hpke/index.ts';

export interface Env {
  GATEWAY_URL: string;
  API_KEY: string;
  MODEL: string;
  POLICY: PolicyInput;
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
  /** URL paths the SDK fetched. */
  fetched: string[];
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

export interface RunReport {
  runtime: { userAgent: string | null; hasProcess: boolean; hasBuffer: boolean; crypto: { x25519: string; ed25519: string } };
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

/**
 * A sealed openai client. `wrap` can replace the base fetch (to record paths
 * or alter responses); without it the SDK uses workerd's global fetch.
 */
function client(env: Env, policy: PolicyInput, out: CallResult, wrap?: (f: typeof fetch) => typeof fetch): OpenAI {
  const recording: typeof fetch = (input, init) => {
    out.fetched.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
    return fetch(input, init);
  };
  return new OpenAI({
    baseURL: `${env.GATEWAY_URL}/v1`,
    apiKey: env.API_KEY,
    maxRetries: 0,
    fetch: sealedFetch({
      policy,
      ...(wrap ? { fetch: wrap(recording) } : {}),
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

const empty = (): CallResult => ({ ok: false, text: '', usage: null, mode: null, worker: null, chunks: 0, receipts: [], fetched: [], error: null });

async function nonStreamed(env: Env, policy: PolicyInput, wrap?: (f: typeof fetch) => typeof fetch): Promise<CallResult> {
  const out = empty();
  try {
    const { data, response } = await client(env, policy, out, wrap).chat.completions.create({ model: env.MODEL, messages: MESSAGES }).withResponse();
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

async function streamed(env: Env, policy: PolicyInput): Promise<CallResult> {
  const out = empty();
  try {
    const { data: stream, response } = await client(env, policy, out)
      .chat.completions.create({ model: env.MODEL, messages: MESSAGES, stream: true, stream_options: { include_usage: true } })
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
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!url.pathname.endsWith('/v1/sealed') || res.status !== 200) return res;
    const b = new Uint8Array(await res.arrayBuffer());
    b[b.length - 5]! ^= 1;
    return new Response(b, { status: res.status, headers: res.headers });
  };

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path !== '/run') return new Response('not found', { status: 404 });
    const g = globalThis as { process?: unknown; Buffer?: unknown; navigator?: { userAgent?: string } };
    const body: RunReport = {
      runtime: {
        userAgent: g.navigator?.userAgent ?? null,
        hasProcess: typeof g.process !== 'undefined',
        hasBuffer: typeof g.Buffer !== 'undefined',
        crypto: await nativeSupport(),
      },
      nonStreamed: await nonStreamed(env, env.POLICY),
      streamed: await streamed(env, env.POLICY),
      refused: await nonStreamed(env, { allowSimulated: false }, (f) => f),
      tampered: await nonStreamed(env, env.POLICY, tamperReceipt),
    };
    return Response.json(body);
  },
};
