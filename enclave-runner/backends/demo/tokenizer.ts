/**
 * The demo model's tokenizer: a word or number with its leading whitespace, or
 * one punctuation mark with its leading whitespace. Concatenating the tokens
 * gives back the text exactly, so streamed tokens and counts agree.
 *
 * @example
 * tokenize('Hello, world!') // ['Hello', ',', ' world', '!']
 */
const TOKEN = /\s*(?:[\p{L}\p{M}\p{N}_'’]+|[^\s\p{L}\p{M}\p{N}_'’])|\s+$/gu;

export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

export function countTokens(text: string): number {
  return tokenize(text).length;
}

/** Tokens a chat prompt costs: each message's role and text plus 3 framing tokens, and 3 to prime the reply. */
export function countChatPromptTokens(messages: Array<{ role: string; text: string; name?: string }>): number {
  let n = 3;
  for (const m of messages) n += 3 + countTokens(m.role) + countTokens(m.text) + (m.name ? countTokens(m.name) : 0);
  return n;
}
