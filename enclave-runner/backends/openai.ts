import { bufferedResponse, postViaFetch, type UpstreamAnswer, type UpstreamPost } from '../../gateway/forward/body.ts';
import { errorResponse, type Backend, type BackendModel, type Endpoint } from './types.ts';

export interface OpenAIBackendOptions {
  /** Base URL of the OpenAI-compatible server, e.g. `http://127.0.0.1:8000/v1` (vLLM, SGLang, llama.cpp, Ollama). */
  baseUrl: string;
  apiKey?: string;
  models: Array<{ id: string; digest?: string; endpoints?: Endpoint[] }>;
  /** How the backend is reached; a fetch with a `post` (the Node pool's) answers without Response objects. */
  fetch?: ((url: string, init: RequestInit) => Promise<Response>) & { post?: UpstreamPost };
}

const PATHS: Record<Endpoint, string> = {
  'chat.completions': '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
};

/**
 * Any OpenAI-compatible server on localhost inside the enclave. Requests go
 * through unchanged; streamed responses are passed on chunk by chunk.
 */
export class OpenAIBackend implements Backend {
  readonly name = 'openai';
  private readonly base: string;
  private readonly post: UpstreamPost;

  constructor(private readonly opts: OpenAIBackendOptions) {
    if (opts.models.length === 0) throw new TypeError('openai backend needs at least one model');
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.post = opts.fetch?.post ?? postViaFetch(opts.fetch ?? ((url, init) => fetch(url, init)));
  }

  models(): BackendModel[] {
    return this.opts.models.map((m) => ({
      id: m.id,
      digest: m.digest ?? `unpinned:${m.id}`,
      endpoints: m.endpoints ?? ['chat.completions', 'completions', 'embeddings'],
    }));
  }

  async handle(endpoint: Endpoint, body: Record<string, unknown>, signal: AbortSignal): Promise<Response> {
    let res: UpstreamAnswer;
    try {
      res = await this.post(
        this.base + PATHS[endpoint],
        {
          'content-type': 'application/json',
          ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}),
        },
        JSON.stringify(body),
        signal,
        false, // the backend's own error answers go back as they are
      );
    } catch {
      return errorResponse(502, 'The inference backend is unreachable.', null, 'backend_unreachable');
    }
    const init = { status: res.status, headers: { 'content-type': res.contentType || 'application/json', 'cache-control': 'no-cache' } };
    // Streams pass through chunk by chunk; whole answers stay in memory.
    if (res.stream) return new Response(res.stream, init);
    return bufferedResponse(res.bytes!, init);
  }
}
