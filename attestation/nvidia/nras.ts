/**
 * NVIDIA Remote Attestation Service (NRAS) tokens: parse the v3 detached EAT
 * (`[["JWT", overall], {"GPU-0": gpuToken, ...}]`), verify every JWT (ES384)
 * against a JWKS with `jose`, check that the overall token's `submods` digests
 * match the detached GPU tokens, then validate the claims: nonce (in full),
 * times, issuer, overall result, and each GPU's measurement/secure boot/debug
 * and RIM/certificate results.
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWSHeaderParameters } from 'jose';
import {
  AttestationError,
  CertRevokedError,
  CollateralInvalidError,
  CollateralUnavailableError,
  DebugEnabledError,
  EvidenceExpiredError,
  GpuAttestationFailedError,
  KindNotAllowedError,
  MalformedEvidenceError,
  NonceMismatchError,
} from '../errors.ts';
import type { GpuVerdict, GpuVerifier, VerifyContext } from '../types.ts';
import { concatBytes, digest, equalBytes, fromBase64, fromHex, toHex, utf8 } from '../util/bytes.ts';
import { checkCertTime, type Certificate } from '../x509/index.ts';
import { parseCert } from './certs.ts';
import { EvidenceNotYetValidError, NrasClaimsInvalidError, NrasSignatureInvalidError } from './errors.ts';

/** Issuer of production NRAS tokens. */
export const NRAS_ISSUER = 'https://nras.attestation.nvidia.com';
/** Where NRAS publishes its signing keys. */
export const NRAS_JWKS_URL = 'https://nras.attestation.nvidia.com/.well-known/jwks.json';

const MAX_TOKEN_CHARS = 64 * 1024;
const MAX_GPUS = 64;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** A JSON Web Key Set as published by NRAS. */
export interface Jwks {
  keys: Array<Record<string, unknown>>;
}

/** Resolves the verification key for a token header (what `jose` calls a key getter). */
export type NrasKeyResolver = (header: JWSHeaderParameters) => Promise<CryptoKey>;

/** The overall token and the detached per-GPU tokens, not yet verified. */
export interface NrasResponse {
  overall: string;
  /** Detached GPU tokens by submodule name (`GPU-0`...). */
  gpus: Record<string, string>;
}

/** Options for `verifyNrasToken`. */
export interface NrasVerifyOptions {
  /** JWKS (offline) or a key resolver (e.g. from `createJwksResolver`). */
  jwks: Jwks | NrasKeyResolver;
  /** Expected nonce: 32 bytes, or hex. `eat_nonce` must equal it in full. */
  nonce: Uint8Array | string;
  /** Evaluation time, unix seconds. */
  now: number;
  /** When set, tokens issued more than this many seconds before `now` are rejected (fresh-nonce use). */
  maxAgeSeconds?: number;
  /** Accepted `iss` values. Default: production NRAS only. */
  issuers?: readonly string[];
  /** Tolerated clock skew for `nbf`/`iat` in the future, seconds. Default 60. Expiry gets none. */
  clockToleranceSeconds?: number;
}

/** One GPU's verified claims. */
export interface NrasGpuResult {
  /** Submodule name, e.g. `GPU-0`. */
  name: string;
  ueid?: string;
  hwmodel?: string;
  driverVersion?: string;
  vbiosVersion?: string;
  claims: JWTPayload;
}

/** The outcome of `verifyNrasToken`. */
export interface NrasResult {
  /** `eat_nonce`, lowercase hex (equal to the expected nonce). */
  nonce: string;
  overall: JWTPayload;
  gpus: NrasGpuResult[];
  /** Latest `iat` across the tokens, unix seconds. */
  issuedAt: number;
  /** Earliest `exp` across the tokens, unix seconds. */
  expiresAt: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function compact(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length > MAX_TOKEN_CHARS || !COMPACT_JWS.test(v)) {
    throw new MalformedEvidenceError(`${what} is not a compact JWT`);
  }
  return v;
}

/**
 * Splits an NRAS answer into the overall token and the detached GPU tokens.
 * Accepts the v3 array, its JSON text, or a lone compact JWT (then with no
 * GPU tokens). Throws `MalformedEvidenceError`.
 */
export function parseNrasResponse(input: unknown): NrasResponse {
  let v = input;
  if (typeof v === 'string') {
    const s = v.trim();
    if (s.startsWith('[') || s.startsWith('{')) {
      if (s.length > MAX_TOKEN_CHARS * (MAX_GPUS + 1)) throw new MalformedEvidenceError('NRAS response is too large');
      try {
        v = JSON.parse(s);
      } catch (e) {
        throw new MalformedEvidenceError('NRAS response is not JSON', { cause: e });
      }
    } else {
      return { overall: compact(s, 'NRAS token'), gpus: {} };
    }
  }
  if (!Array.isArray(v) || v.length < 1 || v.length > 2) {
    throw new MalformedEvidenceError('NRAS response is not [["JWT", token], {gpu tokens}]');
  }
  const head = v[0];
  if (!Array.isArray(head) || head.length !== 2 || head[0] !== 'JWT') {
    throw new MalformedEvidenceError('NRAS response does not start with ["JWT", token]');
  }
  const overall = compact(head[1], 'NRAS overall token');
  const gpus: Record<string, string> = {};
  if (v.length === 2) {
    const tail = v[1];
    if (!isRecord(tail)) throw new MalformedEvidenceError('NRAS detached tokens are not an object');
    const names = Object.keys(tail);
    if (names.length > MAX_GPUS) throw new MalformedEvidenceError(`more than ${MAX_GPUS} detached tokens`);
    for (const name of names) gpus[name] = compact(tail[name], `NRAS token for ${name}`);
  }
  return { overall, gpus };
}

function expectedNonceHex(n: Uint8Array | string): string {
  if (typeof n !== 'string') return toHex(n);
  try {
    return toHex(fromHex(n));
  } catch {
    throw new NonceMismatchError('expected nonce is not hex');
  }
}

/** Maps a `jose` failure onto the attestation error taxonomy. */
function mapJoseError(e: unknown, what: string): AttestationError {
  if (e instanceof AttestationError) return e;
  const opts = { cause: e };
  if (e instanceof joseErrors.JWTExpired) return new EvidenceExpiredError(`${what} has expired`, opts);
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return new EvidenceNotYetValidError(`${what} is not valid yet (nbf)`, opts);
    return new NrasClaimsInvalidError(`${what}: claim ${e.claim} ${e.reason}`, opts);
  }
  if (
    e instanceof joseErrors.JWSSignatureVerificationFailed ||
    e instanceof joseErrors.JWKSNoMatchingKey ||
    e instanceof joseErrors.JWKSMultipleMatchingKeys ||
    e instanceof joseErrors.JOSEAlgNotAllowed
  ) {
    return new NrasSignatureInvalidError(`${what}: ${e.message}`, opts);
  }
  if (e instanceof joseErrors.JWKSInvalid || e instanceof joseErrors.JWKInvalid || e instanceof joseErrors.JOSENotSupported) {
    return new CollateralInvalidError(`NRAS JWKS unusable for ${what}: ${e.message}`, opts);
  }
  return new MalformedEvidenceError(`${what} is malformed`, opts);
}

/**
 * When the JWK that signed a token carries `x5c` (NRAS keys do), its first
 * certificate must be valid at `now` and hold the same public key as the JWK.
 * The chain above it is not checked: the NRAS root is not published with the
 * keys. Throws certificate errors or `CollateralInvalidError`.
 */
export function checkJwkCertificate(jwks: Jwks, kid: string | undefined, now: number): void {
  for (const jwk of jwks.keys.filter((k) => k['kid'] === kid)) {
    const x5c = jwk['x5c'];
    if (x5c === undefined) continue;
    if (!Array.isArray(x5c) || typeof x5c[0] !== 'string') throw new CollateralInvalidError(`JWK ${String(kid)} has a malformed x5c`);
    let leaf: Certificate;
    try {
      leaf = parseCert(fromBase64(x5c[0]));
    } catch (e) {
      throw new CollateralInvalidError(`JWK ${String(kid)} x5c certificate does not parse`, { cause: e });
    }
    checkCertTime(leaf, now, `NRAS signing certificate for ${String(kid)}`);
    const point = leaf.publicKey;
    let x: Uint8Array;
    let y: Uint8Array;
    try {
      x = fromBase64(String(jwk['x']));
      y = fromBase64(String(jwk['y']));
    } catch (e) {
      throw new CollateralInvalidError(`JWK ${String(kid)} has malformed coordinates`, { cause: e });
    }
    if (!equalBytes(point, concatBytes(new Uint8Array([4]), x, y))) {
      throw new CollateralInvalidError(`JWK ${String(kid)} key differs from its x5c certificate`);
    }
  }
}

function localResolver(jwks: Jwks, now: number | undefined): NrasKeyResolver {
  if (!isRecord(jwks) || !Array.isArray(jwks.keys) || !jwks.keys.every(isRecord)) {
    throw new CollateralInvalidError('NRAS JWKS has no keys array');
  }
  const set = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
  return async (header) => {
    const key = await set(header);
    if (now !== undefined) checkJwkCertificate(jwks, header.kid, now);
    return key;
  };
}

function keyResolver(jwks: Jwks | NrasKeyResolver, now: number): NrasKeyResolver {
  return typeof jwks === 'function' ? jwks : localResolver(jwks, now);
}

async function verifyJwt(
  token: string,
  key: NrasKeyResolver,
  opts: NrasVerifyOptions,
  nonceHex: string,
  what: string,
): Promise<JWTPayload & { exp: number; iat: number }> {
  const tolerance = opts.clockToleranceSeconds ?? 60;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, (h) => key(h), {
      algorithms: ['ES384'],
      currentDate: new Date(opts.now * 1000),
      clockTolerance: tolerance, // exp is checked strictly below
      requiredClaims: ['exp', 'iat'],
    }));
  } catch (e) {
    throw mapJoseError(e, what);
  }
  const { exp, iat, nbf, iss } = payload;
  if (typeof exp !== 'number' || typeof iat !== 'number') throw new NrasClaimsInvalidError(`${what} lacks exp/iat`);
  if (exp <= opts.now) throw new EvidenceExpiredError(`${what} expired at ${exp}`);
  if (nbf !== undefined && nbf > opts.now + tolerance) throw new EvidenceNotYetValidError(`${what} is not valid before ${nbf}`);
  if (iat > opts.now + tolerance) throw new EvidenceNotYetValidError(`${what} is issued in the future (${iat})`);
  if (opts.maxAgeSeconds !== undefined && opts.now - iat > opts.maxAgeSeconds) {
    throw new EvidenceExpiredError(`${what} is older than ${opts.maxAgeSeconds}s`);
  }
  const issuers = opts.issuers ?? [NRAS_ISSUER];
  if (typeof iss !== 'string' || !issuers.includes(iss)) {
    throw new NrasClaimsInvalidError(`${what} issuer ${String(iss)} is not accepted`);
  }
  const nonce = payload['eat_nonce'];
  if (typeof nonce !== 'string' || nonce.toLowerCase() !== nonceHex) {
    throw new NonceMismatchError(`${what} eat_nonce ${String(nonce)} is not the expected ${nonceHex}`);
  }
  return payload as JWTPayload & { exp: number; iat: number };
}

const DIGEST_ALGS: Record<string, 'SHA-256' | 'SHA-384' | 'SHA-512'> = {
  'SHA-256': 'SHA-256',
  'SHA-384': 'SHA-384',
  'SHA-512': 'SHA-512',
};

/**
 * Checks that the overall token's `submods` name exactly the detached tokens,
 * each as `["DIGEST", [alg, hex(alg(token as sent))]]`. NRAS hashes the
 * compact JWT string itself (ASCII), not its payload.
 */
export async function checkSubmodDigests(overall: JWTPayload, gpus: Record<string, string>): Promise<void> {
  const submods = overall['submods'];
  const names = Object.keys(gpus);
  if (submods === undefined) {
    if (names.length > 0) throw new NrasClaimsInvalidError('detached GPU tokens present but the overall token has no submods');
    return;
  }
  if (!isRecord(submods)) throw new NrasClaimsInvalidError('submods is not an object');
  const subNames = Object.keys(submods);
  for (const n of names) {
    if (!(n in submods)) throw new NrasClaimsInvalidError(`detached token ${n} is not listed in submods`);
  }
  for (const n of subNames) {
    const token = gpus[n];
    if (token === undefined) throw new NrasClaimsInvalidError(`submodule ${n} has no detached token`);
    const entry = submods[n];
    if (!Array.isArray(entry) || entry[0] !== 'DIGEST' || !Array.isArray(entry[1]) || entry[1].length !== 2) {
      throw new NrasClaimsInvalidError(`submodule ${n} is not a DIGEST entry`);
    }
    const [algName, hex] = entry[1] as unknown[];
    const alg = typeof algName === 'string' ? DIGEST_ALGS[algName.toUpperCase()] : undefined;
    if (!alg || typeof hex !== 'string') throw new NrasClaimsInvalidError(`submodule ${n} digest is unsupported`);
    let want: Uint8Array;
    try {
      want = fromHex(hex);
    } catch {
      throw new NrasClaimsInvalidError(`submodule ${n} digest is not hex`);
    }
    if (!equalBytes(await digest(alg, utf8(token)), want)) {
      throw new NrasClaimsInvalidError(`submodule ${n} digest does not match its detached token`);
    }
  }
}

/** Boolean claims every GPU token must carry as `true` (present in NRAS v2.0 and v3.0 tokens). */
const REQUIRED_TRUE = [
  'x-nvidia-gpu-arch-check',
  'x-nvidia-gpu-attestation-report-parsed',
  'x-nvidia-gpu-attestation-report-nonce-match',
  'x-nvidia-gpu-attestation-report-signature-verified',
  'x-nvidia-gpu-driver-rim-fetched',
  'x-nvidia-gpu-driver-rim-schema-validated',
  'x-nvidia-gpu-driver-rim-signature-verified',
  'x-nvidia-gpu-driver-rim-measurements-available',
  'x-nvidia-gpu-vbios-rim-fetched',
  'x-nvidia-gpu-vbios-rim-schema-validated',
  'x-nvidia-gpu-vbios-rim-signature-verified',
  'x-nvidia-gpu-vbios-rim-measurements-available',
  'x-nvidia-gpu-vbios-index-no-conflict',
] as const;

/** Certificate chains NRAS reports on: nested object claim (v3.0) or flat boolean claim (v2.0). */
const CERT_CHAINS = [
  ['x-nvidia-gpu-attestation-report-cert-chain', 'x-nvidia-gpu-attestation-report-cert-chain-validated'],
  ['x-nvidia-gpu-driver-rim-cert-chain', 'x-nvidia-gpu-driver-rim-cert-validated'],
  ['x-nvidia-gpu-vbios-rim-cert-chain', 'x-nvidia-gpu-vbios-rim-cert-validated'],
] as const;

/** Validates one GPU token's claims; throws the matching typed error. */
export function checkGpuClaims(name: string, c: JWTPayload): void {
  if (c['dbgstat'] !== 'disabled') throw new DebugEnabledError(`${name}: debug status is ${String(c['dbgstat'])}`);
  if (c['measres'] !== 'success') {
    throw new GpuAttestationFailedError(`${name}: measurement result is ${String(c['measres'])}`);
  }
  if (c['secboot'] !== true) throw new GpuAttestationFailedError(`${name}: secure boot is not enabled`);
  for (const k of REQUIRED_TRUE) {
    if (c[k] !== true) throw new GpuAttestationFailedError(`${name}: ${k} is ${String(c[k])}`);
  }
  for (const [nested, flat] of CERT_CHAINS) {
    const obj = c[nested];
    if (isRecord(obj)) {
      const ocsp = obj['x-nvidia-cert-ocsp-status'];
      if (ocsp === 'revoked') throw new CertRevokedError(`${name}: ${nested} is revoked (${String(obj['x-nvidia-cert-revocation-reason'])})`);
      if (obj['x-nvidia-cert-status'] !== 'valid') {
        throw new GpuAttestationFailedError(`${name}: ${nested} status is ${String(obj['x-nvidia-cert-status'])}`);
      }
      if (ocsp !== 'good') throw new GpuAttestationFailedError(`${name}: ${nested} OCSP status is ${String(ocsp)}`);
    } else if (c[flat] !== true) {
      throw new GpuAttestationFailedError(`${name}: ${flat} is ${String(c[flat])}`);
    }
  }
  for (const [k, v] of Object.entries(c)) {
    if (k.startsWith('x-nvidia-gpu-') && v === false) throw new GpuAttestationFailedError(`${name}: ${k} is false`);
  }
}

/**
 * Verifies an NRAS attestation result: every token's ES384 signature against
 * the JWKS, times at `now`, issuer, the full `eat_nonce`, the overall result,
 * the submodule digests and each GPU's claims.
 *
 * @example
 * const r = await verifyNrasToken(JSON.parse(body), { jwks, nonce: nonceHex, now: Date.now() / 1000 });
 * r.gpus[0].claims.hwmodel; r.expiresAt;
 */
export async function verifyNrasToken(tokenOrResponse: unknown, opts: NrasVerifyOptions): Promise<NrasResult> {
  try {
    const nonceHex = expectedNonceHex(opts.nonce);
    const parsed = parseNrasResponse(tokenOrResponse);
    const key = keyResolver(opts.jwks, opts.now);
    const overall = await verifyJwt(parsed.overall, key, opts, nonceHex, 'NRAS overall token');
    if (overall['x-nvidia-overall-att-result'] !== true) {
      throw new GpuAttestationFailedError('NRAS overall attestation result is not true');
    }
    if (overall['submods'] !== undefined && Object.keys(parsed.gpus).length === 0) {
      throw new NrasClaimsInvalidError('the overall token lists submodules but no detached GPU tokens were given');
    }
    const gpus: NrasGpuResult[] = [];
    let expiresAt = overall.exp;
    let issuedAt = overall.iat;
    for (const [name, token] of Object.entries(parsed.gpus)) {
      const claims = await verifyJwt(token, key, opts, nonceHex, `NRAS token for ${name}`);
      expiresAt = Math.min(expiresAt, claims.exp);
      issuedAt = Math.max(issuedAt, claims.iat);
      const g: NrasGpuResult = { name, claims };
      const str = (k: string) => (typeof claims[k] === 'string' ? (claims[k] as string) : undefined);
      const ueid = str('ueid');
      const hwmodel = str('hwmodel');
      const driverVersion = str('x-nvidia-gpu-driver-version');
      const vbiosVersion = str('x-nvidia-gpu-vbios-version');
      if (ueid) g.ueid = ueid;
      if (hwmodel) g.hwmodel = hwmodel;
      if (driverVersion) g.driverVersion = driverVersion;
      if (vbiosVersion) g.vbiosVersion = vbiosVersion;
      gpus.push(g);
    }
    await checkSubmodDigests(overall, parsed.gpus);
    for (const g of gpus) checkGpuClaims(g.name, g.claims);
    return { nonce: nonceHex, overall, gpus, issuedAt, expiresAt };
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new MalformedEvidenceError('NRAS evidence could not be processed', { cause: e });
  }
}

/** Options for a cached, fetching JWKS source. */
export interface JwksCacheOptions {
  /** `fetch` to use (inject for tests or custom transports). Default: global `fetch`. */
  fetch?: (url: string, init?: RequestInit) => Promise<Response>;
  /** How long a fetched JWKS is reused, seconds. Default 3600. */
  cacheSeconds?: number;
  /** Minimum time between refetches forced by an unknown `kid`, seconds. Default 30. */
  cooldownSeconds?: number;
  /** Fetch timeout, milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Wall clock, milliseconds (cache bookkeeping only). Default `Date.now`. */
  clock?: () => number;
}

const MAX_JWKS_BYTES = 1024 * 1024;

/** Fetches JWKS documents and caches them per URL. */
export class JwksCache {
  readonly #opts: Required<Omit<JwksCacheOptions, 'fetch'>> & { fetch?: JwksCacheOptions['fetch'] };
  readonly #entries = new Map<string, { jwks: Jwks; at: number }>();
  readonly #inflight = new Map<string, Promise<Jwks>>();

  constructor(opts: JwksCacheOptions = {}) {
    this.#opts = {
      cacheSeconds: opts.cacheSeconds ?? 3600,
      cooldownSeconds: opts.cooldownSeconds ?? 30,
      timeoutMs: opts.timeoutMs ?? 5000,
      clock: opts.clock ?? (() => Date.now()),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    };
  }

  /** The JWKS at `url`, from cache while fresh. `refresh` refetches if the cooldown allows. */
  async get(url: string, refresh = false): Promise<Jwks> {
    const hit = this.#entries.get(url);
    const age = hit ? (this.#opts.clock() - hit.at) / 1000 : Infinity;
    if (hit && age < this.#opts.cacheSeconds && (!refresh || age < this.#opts.cooldownSeconds)) return hit.jwks;
    let p = this.#inflight.get(url);
    if (!p) {
      p = this.#fetch(url).finally(() => this.#inflight.delete(url));
      this.#inflight.set(url, p);
    }
    return p;
  }

  /**
   * A key resolver over the JWKS at `url` that refetches once on an unknown
   * `kid`. With `now`, the key's `x5c` certificate is checked as in
   * `checkJwkCertificate`.
   */
  resolver(url: string, now?: number): NrasKeyResolver {
    return async (header) => {
      try {
        return await localResolver(await this.get(url), now)(header);
      } catch (e) {
        if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw e;
        return localResolver(await this.get(url, true), now)(header);
      }
    };
  }

  async #fetch(url: string): Promise<Jwks> {
    const f = this.#opts.fetch ?? ((u: string, i?: RequestInit) => fetch(u, i));
    let text: string;
    try {
      const res = await f(url, { signal: AbortSignal.timeout(this.#opts.timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } catch (e) {
      throw new CollateralUnavailableError(`NRAS JWKS could not be fetched from ${url}`, { cause: e });
    }
    if (text.length > MAX_JWKS_BYTES) throw new CollateralInvalidError('NRAS JWKS is too large');
    let jwks: unknown;
    try {
      jwks = JSON.parse(text);
    } catch (e) {
      throw new CollateralInvalidError('NRAS JWKS is not JSON', { cause: e });
    }
    if (!isRecord(jwks) || !Array.isArray(jwks['keys']) || !jwks['keys'].every(isRecord)) {
      throw new CollateralInvalidError('NRAS JWKS has no keys array');
    }
    const value = jwks as unknown as Jwks;
    this.#entries.set(url, { jwks: value, at: this.#opts.clock() });
    return value;
  }
}

/** Options for `createNrasVerifier`. */
export interface NrasVerifierOptions {
  /** JWKS cache used when the policy gives `jwksUrl` (or no offline JWKS). Default: one shared per verifier. */
  jwksCache?: JwksCache;
  /** Shorthand for `new JwksCache({ fetch })`. */
  fetch?: JwksCacheOptions['fetch'];
  /** Accepted issuers. Default: production NRAS. */
  issuers?: readonly string[];
  clockToleranceSeconds?: number;
}

/**
 * Builds the `nvidia-nras` GPU verifier. Keys come from `policy.gpu.nras.jwks`
 * (offline) or are fetched from `policy.gpu.nras.jwksUrl` (default: NVIDIA's
 * JWKS URL) and cached. A policy without a `gpu.nras` section refuses NRAS
 * evidence. Token age is limited by `policy.maxEvidenceAgeSeconds`.
 */
export function createNrasVerifier(options: NrasVerifierOptions = {}): GpuVerifier {
  const cache = options.jwksCache ?? new JwksCache(options.fetch ? { fetch: options.fetch } : {});
  return {
    kind: 'nvidia-nras',
    async verify(evidence: unknown, expectedNonce: Uint8Array, ctx: VerifyContext): Promise<GpuVerdict> {
      const nras = ctx.policy.gpu.nras;
      if (!nras) throw new KindNotAllowedError('policy has no gpu.nras section');
      const jwks: Jwks | NrasKeyResolver = nras.jwks ?? cache.resolver(nras.jwksUrl ?? NRAS_JWKS_URL, ctx.now);
      const opts: NrasVerifyOptions = {
        jwks,
        nonce: expectedNonce,
        now: ctx.now,
        maxAgeSeconds: ctx.policy.maxEvidenceAgeSeconds,
      };
      if (options.issuers) opts.issuers = options.issuers;
      if (options.clockToleranceSeconds !== undefined) opts.clockToleranceSeconds = options.clockToleranceSeconds;
      const r = await verifyNrasToken(evidence, opts);
      return {
        kind: 'nvidia-nras',
        nonce: expectedNonce,
        gpus: r.gpus.map((g) => {
          const out: GpuVerdict['gpus'][number] = { id: g.ueid ?? g.name };
          if (g.hwmodel) out.model = g.hwmodel;
          const m: Record<string, string> = {};
          if (g.driverVersion) m['driver_version'] = g.driverVersion;
          if (g.vbiosVersion) m['vbios_version'] = g.vbiosVersion;
          out.measurements = m;
          return out;
        }),
        expiresAt: r.expiresAt,
      };
    },
  };
}

/** The `nvidia-nras` verifier with default options (fetches with the global `fetch`). */
export const nvidiaNrasVerifier: GpuVerifier = createNrasVerifier();
