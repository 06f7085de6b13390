import { describe, expect, it } from 'vitest';
import { DemoBackend } from './index.ts';
import { summarize } from './summarize.ts';
import { countTokens, tokenize } from './tokenizer.ts';

describe('demo tokenizer', () => {
  it('round-trips text exactly', () => {
    for (const t of ['Hello, world!', '  spaced  out  ', 'naïve café — 42 % done.\nNew line', '日本語のテキスト', '']) {
      expect(tokenize(t).join('')).toBe(t);
    }
    expect(tokenize('Hello, world!')).toEqual(['Hello', ',', ' world', '!']);
  });
});

describe('demo summarizer', () => {
  it('keeps the sentences that carry the main topic, in order', () => {
    const s = summarize(
      [
        { speaker: 'user', text: 'The deploy failed because the database migration timed out. Lunch was nice.' },
        { speaker: 'ops', text: 'We will rerun the database migration with a longer timeout tonight.' },
      ],
      2,
    );
    expect(s.sentences.map((x) => x.text)).toEqual([
      'The deploy failed because the database migration timed out.',
      'We will rerun the database migration with a longer timeout tonight.',
    ]);
    expect(s.keyTerms.slice(0, 2)).toEqual(['database', 'migration']);
  });
});

describe('DemoBackend', () => {
  const backend = new DemoBackend();
  const signal = new AbortController().signal;
  const messages = [{ role: 'user', content: 'Cats sleep a lot during the day. Cats hunt at night. Dogs bark.' }];

  it('reports completion tokens equal to the tokens of the text it returns', async () => {
    const r = await (await backend.handle('chat.completions', { model: 'sealgate-demo', messages }, signal)).json();
    expect(r.usage.completion_tokens).toBe(countTokens(r.choices[0].message.content));
  });

  it('streams the same text token by token, with the same counts', async () => {
    const plain = await (await backend.handle('chat.completions', { model: 'sealgate-demo', messages }, signal)).json();
    const res = await backend.handle('chat.completions', { model: 'sealgate-demo', messages, stream: true, stream_options: { include_usage: true } }, signal);
    const events = (await res.text()).split('\n\n').filter(Boolean).map((e) => e.slice(6));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe(plain.choices[0].message.content);
    expect(chunks.at(-1).usage).toEqual(plain.usage);
  });

  it('is deterministic', async () => {
    const a = await (await backend.handle('chat.completions', { model: 'sealgate-demo', messages }, signal)).json();
    const b = await (await backend.handle('chat.completions', { model: 'sealgate-demo', messages }, signal)).json();
    expect(a.choices).toEqual(b.choices);
  });
});
