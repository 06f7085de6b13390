import { describe, expect, it } from 'vitest';
import { guardSse, type StreamOutcome, type Usage } from './sse.ts';

const enc = new TextEncoder();

function source(parts: string[], failAfter = false): ReadableStreamDefaultReader<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < parts.length) c.enqueue(enc.encode(parts[i++]!));
      else if (failAfter) c.error(new Error('socket reset'));
      else c.close();
    },
  }).getReader();
}

async function run(parts: string[], opts: { drop?: boolean; failAfter?: boolean } = {}) {
  const [first, ...rest] = parts;
  let usage: Usage | null = null;
  let outcome: StreamOutcome | null = null;
  const out = guardSse(source(rest, opts.failAfter), enc.encode(first!), {
    dropUsageChunk: opts.drop ?? false,
    onUsage: (u) => (usage = u),
    onEnd: (o) => (outcome = o),
  });
  const text = await new Response(out).text();
  return { text, usage: usage as Usage | null, outcome: outcome as StreamOutcome | null };
}

const chunk = 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n';
const usage = 'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n';

describe('guardSse', () => {
  it('passes a complete stream through unchanged and reads usage', async () => {
    const r = await run([chunk, usage, 'data: [DONE]\n\n']);
    expect(r.text).toBe(chunk + usage + 'data: [DONE]\n\n');
    expect(r.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    expect(r.outcome).toBe('complete');
  });

  it('reassembles events split across reads at any byte', async () => {
    const all = chunk + usage + 'data: [DONE]\n\n';
    for (let cut = 1; cut < all.length; cut += 7) {
      const r = await run([all.slice(0, cut), all.slice(cut)]);
      expect(r.text).toBe(all);
      expect(r.outcome).toBe('complete');
    }
  });

  it('drops the usage-only chunk when the client did not ask for it, but still counts it', async () => {
    const r = await run([chunk, usage, 'data: [DONE]\n\n'], { drop: true });
    expect(r.text).toBe(chunk + 'data: [DONE]\n\n');
    expect(r.usage?.total_tokens).toBe(5);
  });

  it('ends a stream that closes without [DONE] with an error event', async () => {
    const r = await run([chunk, chunk]);
    expect(r.text.startsWith(chunk + chunk)).toBe(true);
    expect(r.text).toMatch(/event: error\ndata: \{"error":\{.*"code":"upstream_stream_broken"\}\}\n\n$/);
    expect(r.text).not.toContain('[DONE]');
    expect(r.outcome).toBe('broken');
  });

  it('ends a stream whose upstream fails with an error event', async () => {
    const r = await run([chunk, chunk], { failAfter: true });
    expect(r.text).toContain('event: error');
    expect(r.outcome).toBe('broken');
  });

  it('forwards nothing after [DONE]', async () => {
    const r = await run([chunk, 'data: [DONE]\n\n', chunk]);
    expect(r.text).toBe(chunk + 'data: [DONE]\n\n');
  });
});
