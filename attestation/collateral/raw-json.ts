/**
 * Locates the exact source text of the members of a top-level JSON object.
 *
 * Intel signs the bytes of the `tcbInfo` / `enclaveIdentity` object text as
 * served; re-serializing a parsed object would change key order, spacing or
 * number formatting and break the signature. This scanner returns the raw
 * substring of each member value instead. It only finds boundaries: callers
 * must still `JSON.parse` the whole text (which rejects anything malformed).
 */

/** Thrown on text this scanner cannot delimit; callers wrap it in a typed error. */
export class RawJsonError extends Error {}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(s: string, i: number): number {
  while (i < s.length && WS.has(s.charCodeAt(i))) i++;
  return i;
}

/** Index just after the closing quote of the string starting at `i` (which must be `"`). */
function skipString(s: string, i: number): number {
  if (s[i] !== '"') throw new RawJsonError(`expected string at ${i}`);
  i++;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return i + 1; // "
    if (c === 0x5c) i += 2; // backslash: skip the escaped char (\uXXXX's hex digits are plain chars)
    else if (c < 0x20) throw new RawJsonError(`control character in string at ${i}`);
    else i++;
  }
  throw new RawJsonError('unterminated string');
}

/** Index just after the JSON value starting at `i`. Nesting is tracked with a stack, not recursion. */
function skipValue(s: string, i: number): number {
  const stack: string[] = [];
  for (;;) {
    i = skipWs(s, i);
    if (i >= s.length) throw new RawJsonError('unexpected end of input');
    const ch = s[i]!;
    if (ch === '"') {
      i = skipString(s, i);
    } else if (ch === '{' || ch === '[') {
      stack.push(ch === '{' ? '}' : ']');
      i++;
      continue;
    } else if (ch === '}' || ch === ']') {
      if (stack.pop() !== ch) throw new RawJsonError(`unbalanced ${ch} at ${i}`);
      i++;
    } else if (ch === ',' || ch === ':') {
      if (stack.length === 0) throw new RawJsonError(`unexpected ${ch} at ${i}`);
      i++;
      continue;
    } else {
      const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(s.slice(i, i + 64));
      if (!m) throw new RawJsonError(`unexpected character at ${i}`);
      i += m[0].length;
    }
    if (stack.length === 0) return i;
  }
}

/** A member's value as it appears in the source text. */
export interface RawMember {
  /** Offset of the value's first character. */
  start: number;
  /** Offset just after the value's last character. */
  end: number;
  /** `text.slice(start, end)`. */
  raw: string;
}

/**
 * Maps each key of the top-level object in `text` to its value's exact text.
 * Duplicate keys are rejected: `JSON.parse` keeps the last one, so a signed
 * first copy and an unsigned second copy could otherwise disagree.
 *
 * @example
 * rawTopLevelMembers('{"a": {"b":1} }').get('a')!.raw // '{"b":1}'
 */
export function rawTopLevelMembers(text: string): Map<string, RawMember> {
  const out = new Map<string, RawMember>();
  let i = skipWs(text, 0);
  if (text[i] !== '{') throw new RawJsonError('top level is not an object');
  i = skipWs(text, i + 1);
  if (text[i] === '}') {
    i++;
  } else {
    for (;;) {
      const keyStart = i;
      i = skipString(text, i);
      const key = JSON.parse(text.slice(keyStart, i)) as string;
      i = skipWs(text, i);
      if (text[i] !== ':') throw new RawJsonError(`expected ':' at ${i}`);
      const start = skipWs(text, i + 1);
      const end = skipValue(text, start);
      if (out.has(key)) throw new RawJsonError(`duplicate key ${JSON.stringify(key)}`);
      out.set(key, { start, end, raw: text.slice(start, end) });
      i = skipWs(text, end);
      if (text[i] === ',') {
        i = skipWs(text, i + 1);
        continue;
      }
      if (text[i] === '}') {
        i++;
        break;
      }
      throw new RawJsonError(`expected ',' or '}' at ${i}`);
    }
  }
  if (skipWs(text, i) !== text.length) throw new RawJsonError('trailing characters after the object');
  return out;
}
