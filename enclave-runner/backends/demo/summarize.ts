/**
 * Extractive summarizer: picks the sentences that carry the conversation's
 * most frequent content words, keeps them in their original order, and lists
 * the key terms. Deterministic and weight-free.
 */

const STOPWORDS = new Set(
  `a about above after again against all am an and any are as at be because been before being below between both but by
  can could did do does doing down during each few for from further had has have having he her here hers herself him himself
  his how i if in into is it its itself just let me more most my myself no nor not now of off on once only or other our ours
  ourselves out over own please same she should so some such than that the their theirs them themselves then there these they
  this those through to too under until up very was we were what when where which while who whom why will with would you
  your yours yourself yourselves also get got like one two us ok okay yes yeah hi hello thanks thank summarize summary
  summarise tl dr`.split(/\s+/),
);

export interface SummaryInput {
  /** Speaker label (e.g. `user`, `assistant`, or a name). */
  speaker: string;
  text: string;
}

export interface Summary {
  sentences: Array<{ speaker: string; text: string }>;
  keyTerms: string[];
  totalSentences: number;
}

const words = (s: string) => (s.toLowerCase().match(/[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu) ?? []).filter((w) => !STOPWORDS.has(w) && w.length > 1);

function sentencesOf(text: string): string[] {
  return (text.match(/[^.!?\n]+(?:[.!?]+|$)/g) ?? []).map((s) => s.trim()).filter((s) => s.split(/\s+/).length >= 3);
}

/**
 * Summarizes messages into at most `maxSentences` sentences.
 *
 * @example
 * summarize([{ speaker: 'user', text: 'We ship on Friday. The release needs QA sign-off.' }], 1)
 */
export function summarize(messages: SummaryInput[], maxSentences = 3): Summary {
  const all: Array<{ speaker: string; text: string; pos: number; words: string[] }> = [];
  for (const m of messages) {
    for (const s of sentencesOf(m.text)) {
      // Directives addressed to the model ("Summarize this:") are not content.
      if (/:$/.test(s) && /summar|tl;?dr/i.test(s)) continue;
      all.push({ speaker: m.speaker, text: s, pos: all.length, words: words(s) });
    }
  }
  const freq = new Map<string, number>();
  for (const s of all) for (const w of s.words) freq.set(w, (freq.get(w) ?? 0) + 1);
  const top = Math.max(1, ...freq.values());
  const scored = all.map((s) => {
    const base = s.words.reduce((n, w) => n + freq.get(w)! / top, 0) / Math.sqrt(Math.max(1, s.words.length));
    return { ...s, score: base + (s.pos === 0 ? 0.1 : 0) };
  });
  const chosen = [...scored]
    .sort((a, b) => b.score - a.score || a.pos - b.pos)
    .slice(0, Math.max(1, maxSentences))
    .sort((a, b) => a.pos - b.pos);
  const keyTerms = [...freq.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, 5)
    .map(([w]) => w);
  return {
    sentences: all.length ? chosen.map((s) => ({ speaker: s.speaker, text: s.text })) : [],
    keyTerms,
    totalSentences: all.length,
  };
}

/** The summary as the demo model's plain-text answer. */
export function renderSummary(s: Summary, withSpeakers: boolean): string {
  if (s.sentences.length === 0) return 'There is nothing to summarize yet: send some text or a conversation.';
  const lines = s.sentences.map((x) => `- ${withSpeakers ? `${x.speaker}: ` : ''}${x.text}`);
  const head = `Summary (${s.sentences.length} of ${s.totalSentences} sentences):`;
  const terms = s.keyTerms.length ? `\nKey terms: ${s.keyTerms.join(', ')}.` : '';
  return `${head}\n${lines.join('\n')}${terms}`;
}
