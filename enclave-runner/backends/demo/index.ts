import { toHex } from '../../../attestation/util/bytes.ts';
import { errorResponse, type Backend, type BackendModel, type Endpoint } from '../types.ts';
import { embed, embeddingBase64 } from './embed.ts';
import { renderSummary, summarize, type SummaryInput } from './summarize.ts';
import { countChatPromptTokens, countTokens, tokenize } from './tokenizer.ts';

export const DEMO_MODEL_ID = 'sealgate-demo';
const DEMO_DIGEST = 'demo:sealgate-demo-summarizer-v1';
const MAX_N = 16;

export interface DemoBackendOptions {
  /** Delay between streamed tokens, ms (0: as fast as possible). */
  tokenDelayMs?: number;
  modelId?: string;
}

type Body = Record<string, unknown>;
type Msg = { role: string; content?: unknown; name?: string };

/** Text of a message's content (string or text parts). */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === 'object' && (p as { type?: string }).type === 'text' ? String((p as { text?: unknown }).text ?? '') : ''))
      .filter(Boolean)
      .join('\n');
  }
  return '';
}

/** Applies stop sequences and the token limit to an answer. */
function limit(text: string, stop: unknown, maxTokens: number | null): { tokens: string[]; finish: 'stop' | 'length' } {
  const stops = typeof stop === 'string' ? [stop] : Array.isArray(stop) ? (stop as string[]) : [];
  let cut = text;
  for (const s of stops) {
    const i = s ? cut.indexOf(s) : -1;
    if (i >= 0) cut = cut.slice(0, i);
  }
  const tokens = tokenize(cut);
  if (maxTokens !== null && tokens.length > maxTokens) return { tokens: tokens.slice(0, maxTokens), finish: 'length' };
  return { tokens, finish: 'stop' };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

/**
 * The built-in demo model: an extractive summarizer of the conversation (or
 * of a completion prompt), with honest token counts, streamed token by token,
 * plus hashed bag-of-words embeddings. Needs no weights.
 */
export class DemoBackend implements Backend {
  readonly name = 'demo';
  private readonly modelId: string;
  private readonly delay: number;

  constructor(opts: DemoBackendOptions = {}) {
    this.modelId = opts.modelId ?? DEMO_MODEL_ID;
    this.delay = opts.tokenDelayMs ?? 0;
  }

  models(): BackendModel[] {
    return [{ id: this.modelId, digest: DEMO_DIGEST, endpoints: ['chat.completions', 'completions', 'embeddings'] }];
  }

  async handle(endpoint: Endpoint, body: Body, signal: AbortSignal): Promise<Response> {
    if (body.model !== this.modelId) return errorResponse(404, `The model \`${String(body.model)}\` is not served here.`, 'model', 'model_not_found');
    const n = typeof body.n === 'number' ? body.n : 1;
    if (n > MAX_N) return errorResponse(400, `The demo model supports n up to ${MAX_N}.`, 'n', 'unsupported_value');
    if (endpoint === 'embeddings') return this.embeddings(body);
    if (body.logprobs) return errorResponse(400, 'The demo model does not return logprobs.', 'logprobs', 'unsupported_parameter');
    if (endpoint === 'chat.completions') return this.chat(body, n, signal);
    return this.completions(body, n, signal);
  }

  private chat(body: Body, n: number, signal: AbortSignal): Response {
    const messages = body.messages as Msg[];
    const choice = body.tool_choice;
    if (choice === 'required' || (typeof choice === 'object' && choice !== null)) {
      return errorResponse(400, 'The demo model cannot call tools; use tool_choice "auto" or "none".', 'tool_choice', 'unsupported_value');
    }
    const format = (body.response_format as { type?: string } | undefined)?.type;
    if (format === 'json_schema') {
      return errorResponse(400, 'The demo model supports response_format text and json_object only.', 'response_format', 'unsupported_value');
    }
    const conversation: SummaryInput[] = messages
      .filter((m) => m.role !== 'system' && m.role !== 'developer')
      .map((m) => ({ speaker: m.name ?? m.role, text: textOf(m.content) }));
    const maxTokens = (body.max_completion_tokens ?? body.max_tokens ?? null) as number | null;
    const summary = summarize(conversation, 3);
    const text =
      format === 'json_object'
        ? JSON.stringify({ summary: summary.sentences.map((s) => s.text), key_terms: summary.keyTerms })
        : renderSummary(summary, conversation.length > 1);
    const answer = limit(text, body.stop, maxTokens);
    const promptTokens = countChatPromptTokens(messages.map((m) => ({ role: m.role, text: textOf(m.content), name: m.name })));
    return this.respond('chat', body, n, [answer], promptTokens, signal);
  }

  private completions(body: Body, n: number, signal: AbortSignal): Response {
    const prompts = typeof body.prompt === 'string' ? [body.prompt] : (body.prompt as unknown[]);
    if (!prompts.every((p) => typeof p === 'string')) {
      return errorResponse(400, 'The demo model accepts text prompts only, not token arrays.', 'prompt', 'unsupported_value');
    }
    const maxTokens = (body.max_tokens ?? 256) as number;
    const answers = (prompts as string[]).map((p) => limit(renderSummary(summarize([{ speaker: 'text', text: p }], 3), false), body.stop, maxTokens));
    const promptTokens = (prompts as string[]).reduce((s, p) => s + countTokens(p), 0);
    return this.respond('text', body, n, answers, promptTokens, signal);
  }

  private embeddings(body: Body): Response {
    const inputs = typeof body.input === 'string' ? [body.input] : (body.input as unknown[]);
    const texts = inputs.map((x) => (typeof x === 'string' ? x : Array.isArray(x) ? x.map((t) => `t${t}`).join(' ') : `t${x}`));
    const dims = (body.dimensions as number | undefined) ?? 256;
    const base64 = body.encoding_format === 'base64';
    const data = texts.map((t, index) => {
      const v = embed(t, dims);
      return { object: 'embedding', index, embedding: base64 ? embeddingBase64(v) : Array.from(v) };
    });
    const promptTokens = texts.reduce((s, t) => s + countTokens(t), 0);
    return Response.json({ object: 'list', data, model: this.modelId, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
  }

  /** Builds the JSON or SSE answer for `answers` (one per prompt), each repeated `n` times. */
  private respond(
    kind: 'chat' | 'text',
    body: Body,
    n: number,
    answers: Array<{ tokens: string[]; finish: 'stop' | 'length' }>,
    promptTokens: number,
    signal: AbortSignal,
  ): Response {
    const id = (kind === 'chat' ? 'chatcmpl-' : 'cmpl-') + toHex(crypto.getRandomValues(new Uint8Array(12)));
    const created = Math.floor(Date.now() / 1000);
    const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
    const choices = answers.flatMap((a) => Array.from({ length: n }, () => a));
    const completionTokens = choices.reduce((s, c) => s + c.tokens.length, 0);
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    const base = { id, created, model: this.modelId, system_fingerprint: 'sealgate-demo-v1' };

    if (body.stream !== true) {
      return Response.json({
        ...base,
        object,
        choices: choices.map((c, index) =>
          kind === 'chat'
            ? { index, message: { role: 'assistant', content: c.tokens.join(''), refusal: null }, logprobs: null, finish_reason: c.finish }
            : { index, text: c.tokens.join(''), logprobs: null, finish_reason: c.finish },
        ),
        usage,
      });
    }

    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const chunkObject = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const enc = new TextEncoder();
    const delay = this.delay;
    const event = (data: unknown) => enc.encode(`data: ${JSON.stringify(data)}\n\n`);
    const chunk = (index: number, piece: { delta?: object; text?: string }, finish: string | null) => ({
      ...base,
      object: chunkObject,
      choices: [
        kind === 'chat'
          ? { index, delta: piece.delta ?? {}, logprobs: null, finish_reason: finish }
          : { index, text: piece.text ?? '', logprobs: null, finish_reason: finish },
      ],
      ...(includeUsage ? { usage: null } : {}),
    });
    async function* events() {
      for (let index = 0; index < choices.length; index++) {
        const c = choices[index]!;
        if (kind === 'chat') yield event(chunk(index, { delta: { role: 'assistant', content: '' } }, null));
        for (const t of c.tokens) {
          if (delay > 0) await sleep(delay, signal);
          yield event(chunk(index, kind === 'chat' ? { delta: { content: t } } : { text: t }, null));
        }
        yield event(chunk(index, kind === 'chat' ? { delta: {} } : { text: '' }, c.finish));
      }
      if (includeUsage) yield event({ ...base, object: chunkObject, choices: [], usage });
      yield enc.encode('data: [DONE]\n\n');
    }
    const it = events();
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const r = await it.next();
            if (r.done) controller.close();
            else controller.enqueue(r.value);
          } catch (e) {
            controller.error(e);
          }
        },
        async cancel() {
          await it.return(undefined);
        },
      }),
      { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' } },
    );
  }
}
