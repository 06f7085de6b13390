import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake OpenAI-compatible upstream answers the next requests. */
export type UpstreamMode = 'normal' | 'die-mid-stream' | 'die-before-headers' | 'error-500';

/**
 * A real HTTP server on loopback that speaks the OpenAI chat API the way vLLM
 * does: it answers tool-call requests with a tool call, streams SSE, and can
 * be told to fail in the ways real backends fail.
 */
export interface FakeUpstream {
  url: string;
  requests: Array<Record<string, unknown>>;
  mode: UpstreamMode;
  close(): Promise<void>;
}

function completion(body: Record<string, unknown>) {
  const tools = body.tools as Array<{ function: { name: string } }> | undefined;
  const message = tools?.length
    ? {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: tools[0]!.function.name, arguments: '{"city":"Paris"}' } }],
      }
    : { role: 'assistant', content: 'Hello from upstream.' };
  return {
    id: 'chatcmpl-up',
    object: 'chat.completion',
    created: 1,
    model: body.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: tools?.length ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
  };
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const state: FakeUpstream = { url: '', requests: [], mode: 'normal', close: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      state.requests.push(body);
      if (state.mode === 'die-before-headers') return req.socket.destroy();
      if (state.mode === 'error-500') {
        res.writeHead(500, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'boom', type: 'server_error', param: null, code: null } }));
      }
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(completion(body)));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }, null));
      for (const w of ['Hello', ' from', ' upstream', '.']) res.write(chunk({ content: w }, null));
      if (state.mode === 'die-mid-stream') {
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      res.write(chunk({}, 'stop'));
      const so = body.stream_options as { include_usage?: boolean } | undefined;
      if (so?.include_usage) {
        res.write(`data: ${JSON.stringify({ id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [], usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return state;
}
