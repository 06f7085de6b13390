/** PEM helpers (RFC 7468), pure TypeScript. */
import { fromBase64 } from '../util/bytes.ts';

/**
 * Extracts every `-----BEGIN <label>-----` block from `text` as DER, in order.
 * Throws `TypeError` when there is none or a block's base64 is invalid.
 * With `strict`, anything but whitespace (and trailing NUL bytes) outside the
 * blocks is also an error, so a damaged delimiter cannot silently drop a block.
 *
 * @example
 * const [leaf, ca, root] = pemToDerList(chainPem);
 */
export function pemToDerList(text: string, label = 'CERTIFICATE', strict = false): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  const out: Uint8Array[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (strict && text.slice(last, m.index).trim() !== '') throw new TypeError(`unexpected text outside PEM ${label} blocks`);
    last = m.index + m[0].length;
    const body = m[1]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new TypeError(`invalid base64 in PEM ${label}`);
    out.push(fromBase64(body));
  }
  if (out.length === 0) throw new TypeError(`no PEM ${label} found`);
  if (strict && text.slice(last).replace(/\0+$/, '').trim() !== '') {
    throw new TypeError(`unexpected text after PEM ${label} blocks`);
  }
  return out;
}

/** Encodes DER as one PEM block. */
export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  let b64 = '';
  const bin = Array.from(der, (b) => String.fromCharCode(b)).join('');
  b64 = btoa(bin);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
