/**
 * Suite negotiation. A worker publishes its HPKE keys in its evidence bundle's
 * binding keys as entries {use: 'hpke', alg: 'X25519' | 'X-Wing', key}; the
 * client picks X-Wing when the worker offers it (and the client allows it),
 * else X25519. `key` is raw bytes or base64url / base64 text.
 */
import { SealError } from '../hpke/errors.ts';
import { DHKEM_X25519, XWING, kemByName, warmRecipientKey, type KemName, type KeyPair } from '../hpke/hpke.ts';
import type { Recipient, RecipientKeys } from './request.ts';

export interface BindingKey {
  use: string;
  alg: string;
  key: Uint8Array | string;
}

/** Client preference order: post-quantum hybrid first. */
export const KEM_PREFERENCE: readonly KemName[] = ['X-Wing', 'X25519'];

export function decodeKey(key: Uint8Array | string): Uint8Array {
  if (key instanceof Uint8Array) return key;
  if (typeof key !== 'string') throw new SealError('KEY_MISMATCH', 'binding key must be bytes or base64 text');
  const b64 = key.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(b64) || b64.length % 4 === 1) throw new SealError('KEY_MISMATCH', 'binding key is not base64');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function encodeKey(key: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < key.length; i++) bin += String.fromCharCode(key[i]!);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Pick the recipient key from a worker's (already verified) binding keys.
 * Throws UNSUPPORTED_SUITE when no acceptable HPKE key is offered and
 * KEY_MISMATCH when the chosen key has the wrong length.
 */
export function selectRecipient(
  bindingKeys: readonly BindingKey[],
  opts: { allow?: readonly KemName[] } = {},
): Recipient {
  const allow = opts.allow ?? KEM_PREFERENCE;
  for (const kemName of KEM_PREFERENCE) {
    if (!allow.includes(kemName)) continue;
    const entry = bindingKeys.find((k) => k.use === 'hpke' && k.alg === kemName);
    if (!entry) continue;
    const publicKey = decodeKey(entry.key);
    const kem = kemByName(kemName);
    if (publicKey.length !== kem.Npk) throw new SealError('KEY_MISMATCH', `${kemName} key must be ${kem.Npk} bytes`);
    return { kem: kemName, publicKey };
  }
  throw new SealError('UNSUPPORTED_SUITE', 'worker offers no acceptable HPKE key');
}

/** Worker: fresh in-memory HPKE keys for both KEMs. */
export function generateRecipientKeys(): Required<RecipientKeys> {
  return { x25519: DHKEM_X25519.generateKeyPair(), xwing: XWING.generateKeyPair() };
}

/**
 * Worker: do the one-time per-key work (imports, X-Wing expansion) now, so the
 * first sealed request does not pay for it. Optional.
 */
export async function warmRecipientKeys(keys: RecipientKeys): Promise<void> {
  await Promise.all([
    keys.x25519 ? warmRecipientKey(DHKEM_X25519, keys.x25519.secretKey) : undefined,
    keys.xwing ? warmRecipientKey(XWING, keys.xwing.secretKey) : undefined,
  ]);
}

/** Worker: the binding-key entries to publish (and bind in report data) for its HPKE keys. */
export function bindingKeysFor(keys: RecipientKeys): Array<{ use: 'hpke'; alg: KemName; key: string }> {
  const out: Array<{ use: 'hpke'; alg: KemName; key: string }> = [];
  if (keys.xwing) out.push({ use: 'hpke', alg: 'X-Wing', key: encodeKey(keys.xwing.publicKey) });
  if (keys.x25519) out.push({ use: 'hpke', alg: 'X25519', key: encodeKey(keys.x25519.publicKey) });
  return out;
}

export type { KeyPair };
