import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64Url, toHex, utf8 } from '../../attestation/util/bytes.ts';
import { unauthorized } from '../errors/index.ts';
import type { ApiKeyRecord, Storage } from '../storage/types.ts';

/** Prefix of every sealgate API key, so leaked keys are recognisable by scanners. */
export const API_KEY_PREFIX = 'sk-sg-';

/** SHA-256 of a key, hex: the only form in which keys are stored. Synchronous: it sits on every request. */
export function hashApiKey(key: string): string {
  return toHex(sha256(utf8(key)));
}

/** A fresh random key and its record (the key is returned once, never stored). */
export async function generateApiKey(
  name: string,
  limits: { rpm?: number | null; tpm?: number | null } = {},
  now = Date.now(),
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = API_KEY_PREFIX + toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  return { key, record: await recordForKey(key, name, limits, now) };
}

/** The record for a given key (used for a fixed development key). */
export async function recordForKey(
  key: string,
  name: string,
  limits: { rpm?: number | null; tpm?: number | null } = {},
  now = Date.now(),
): Promise<ApiKeyRecord> {
  return {
    id: 'key_' + toHex(crypto.getRandomValues(new Uint8Array(8))),
    name,
    hash: hashApiKey(key),
    prefix: key.slice(0, API_KEY_PREFIX.length + 4),
    createdAt: now,
    revokedAt: null,
    rpm: limits.rpm ?? null,
    tpm: limits.tpm ?? null,
  };
}

/** Extracts the bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined | null): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/**
 * Looks API keys up by hash, caching hits briefly so the hot path rarely
 * touches storage. A revocation is seen within `cacheMs`.
 */
export class ApiKeyAuthenticator {
  private cache = new Map<string, { record: ApiKeyRecord | null; until: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly cacheMs = 1000,
  ) {}

  /** Returns the key's record or throws a 401 `ApiError`. */
  async authenticate(authorization: string | undefined | null, now = Date.now()): Promise<ApiKeyRecord> {
    const token = bearerToken(authorization);
    if (!token) throw unauthorized('Missing API key. Pass it as `Authorization: Bearer <key>`.');
    const hash = hashApiKey(token);
    let hit = this.cache.get(hash);
    if (!hit || hit.until < now) {
      hit = { record: await this.storage.findApiKeyByHash(hash), until: now + this.cacheMs };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, hit);
    }
    if (!hit.record || hit.record.revokedAt !== null) throw unauthorized('Incorrect API key provided.');
    return hit.record;
  }
}
