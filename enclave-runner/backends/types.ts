import type { Endpoint } from '../../gateway/registry/index.ts';

export type { Endpoint };

/** A model a backend serves. */
export interface BackendModel {
  id: string;
  /** Digest of the weights (or `demo:<name>` for the built-in model); bound by the evidence. */
  digest: string;
  endpoints: Endpoint[];
}

/**
 * An inference backend inside the enclave. It answers OpenAI-shaped requests
 * with OpenAI-shaped responses: JSON, or SSE when the request streams.
 */
export interface Backend {
  readonly name: string;
  models(): BackendModel[];
  handle(endpoint: Endpoint, body: Record<string, unknown>, signal: AbortSignal): Promise<Response>;
}

/** An OpenAI error envelope response. */
export function errorResponse(status: number, message: string, param: string | null = null, code: string | null = null): Response {
  const type = status === 404 ? 'invalid_request_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return Response.json({ error: { message, type, param, code } }, { status });
}
