/** Token usage as OpenAI reports it. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
}

export type StreamOutcome = 'complete' | 'broken' | 'cancelled';

export interface SseGuardOptions {
  /** Drop the trailing usage-only chunk (`choices: []`): the client did not ask for it. */
  dropUsageChunk: boolean;
  onUsage(usage: Usage): void;
  /** Called once: `complete` only when the upstream stream ended with `data: [DONE]`. */
  onEnd(outcome: StreamOutcome): void;
}

const enc = new TextEncoder();

/** The SSE event that ends a broken stream: an OpenAI error the official client raises. */
export function sseErrorEvent(message: string, code = 'upstream_stream_broken'): Uint8Array {
  const body = JSON.stringify({ error: { message, type: 'server_error', param: null, code } });
  return enc.encode(`event: error\ndata: ${body}\n\n`);
}

/**
 * Passes an upstream SSE stream through event by event. It reads usage from
 * the usage chunk, and guarantees the client never sees a silent truncation:
 * if the upstream ends without `data: [DONE]` or fails, the stream ends with
 * an `event: error` carrying an OpenAI error envelope, and no `[DONE]`.
 */
export function guardSse(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: Uint8Array,
  opts: SseGuardOptions,
): ReadableStream<Uint8Array> {
  const dec = new TextDecoder();
  let buf = '';
  let done = false;
  let ended = false;
  const end = (outcome: StreamOutcome) => {
    if (!ended) {
      ended = true;
      opts.onEnd(outcome);
    }
  };

  /** Splits complete events off `buf`; returns the bytes to forward. */
  const take = (text: string): string => {
    buf += text;
    let out = '';
    for (;;) {
      const m = /\r?\n\r?\n/.exec(buf);
      if (!m) break;
      const event = buf.slice(0, m.index + m[0].length);
      buf = buf.slice(m.index + m[0].length);
      if (done) continue; // nothing after [DONE] is forwarded
      const data = eventData(event);
      if (data === '[DONE]') {
        done = true;
        out += event;
      } else if (data !== null && data.includes('"usage"')) {
        let drop = false;
        try {
          const parsed = JSON.parse(data) as { usage?: Usage | null; choices?: unknown[] };
          if (parsed.usage) {
            opts.onUsage(parsed.usage);
            drop = opts.dropUsageChunk && Array.isArray(parsed.choices) && parsed.choices.length === 0;
          }
        } catch {
          // not JSON: forward as is
        }
        if (!drop) out += event;
      } else {
        out += event;
      }
    }
    return out;
  };

  let pending: string | null = take(dec.decode(first, { stream: true }));
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending !== null) {
        const p = pending;
        pending = null;
        if (p) {
          controller.enqueue(enc.encode(p));
          return;
        }
      }
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch {
          if (!done) controller.enqueue(sseErrorEvent('The worker stream failed before completion.'));
          end(done ? 'complete' : 'broken');
          controller.close();
          return;
        }
        if (r.done) {
          const rest = take(dec.decode() + (buf.length ? '\n\n' : ''));
          if (rest) controller.enqueue(enc.encode(rest));
          if (!done) controller.enqueue(sseErrorEvent('The worker stream ended before completion.'));
          end(done ? 'complete' : 'broken');
          controller.close();
          return;
        }
        const out = take(dec.decode(r.value, { stream: true }));
        if (out) {
          controller.enqueue(enc.encode(out));
          return;
        }
      }
    },
    async cancel() {
      end('cancelled');
      await reader.cancel().catch(() => {});
    },
  });
}

/** The joined `data:` lines of one SSE event, or null when it has none. */
function eventData(event: string): string | null {
  let data: string | null = null;
  for (const line of event.split(/\r?\n/)) {
    if (line.startsWith('data:')) {
      const v = line.slice(line[5] === ' ' ? 6 : 5);
      data = data === null ? v : `${data}\n${v}`;
    }
  }
  return data;
}
