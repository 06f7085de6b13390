/**
 * An HTTP collateral source for Intel PCS or a PCCS: fetches TCB Info, QE
 * Identity, the PCK CRL and the Root CA CRL, parses them into
 * `IntelCollateral`, and caches each answer by URL until its own `nextUpdate`.
 *
 * Web-standard `fetch` only, so it runs on Node, Workers and browsers.
 * Fail closed: any network error, timeout, non-200 status, missing header,
 * unparseable or mismatching body is a `CollateralFetchError`
 * (`COLLATERAL_UNAVAILABLE`); an answer already past its `nextUpdate` is a
 * `CollateralStaleError` (`COLLATERAL_EXPIRED`). Expired collateral is never
 * returned, from the cache or from the network.
 */
import type { IntelCollateral } from '../tdx/collateral.ts';
import { concatByteList } from '../util/bytes.ts';
import { CollateralFetchError, CollateralSourceConfigError, CollateralStaleError } from './errors.ts';
import {
  EXPECTED,
  itemsNextUpdate,
  parsePckCrlResponse,
  parseQeIdentityResponse,
  parseRootCaCrlResponse,
  parseTcbInfoResponse,
  toIntelCollateral,
  type CrlItem,
  type IntelTee,
  type PckCa,
  type PcsCollateralItems,
  type PcsResponseParts,
  type SignedJsonItem,
  type TcbInfoItem,
} from './pcs.ts';

/** Intel's public PCS. */
export const INTEL_PCS_URL = 'https://api.trustedservices.intel.com';
/** Where Intel publishes the SGX Root CA CRL (the root certificate's CRL distribution point). */
export const INTEL_ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

/** One cached, parsed answer. */
export interface CachedCollateralItem<T = unknown> {
  value: T;
  /** Unix seconds; the entry is not served at or after this time. */
  nextUpdate: number;
  /** Unix seconds, when it was fetched. */
  fetchedAt: number;
}

/** Storage for parsed answers, keyed by request URL. Synchronous, in memory by default. */
export interface CollateralCache {
  get(key: string): CachedCollateralItem | undefined;
  set(key: string, entry: CachedCollateralItem): void;
  delete(key: string): void;
  clear(): void;
}

/**
 * A bounded in-memory cache (oldest entry evicted first).
 *
 * @example
 * const cache = createMemoryCollateralCache({ maxEntries: 64 });
 */
export function createMemoryCollateralCache(opts: { maxEntries?: number } = {}): CollateralCache {
  const max = opts.maxEntries ?? 256;
  if (!Number.isInteger(max) || max < 1) throw new CollateralSourceConfigError('maxEntries must be a positive integer');
  const map = new Map<string, CachedCollateralItem>();
  return {
    get: (k) => map.get(k),
    set(k, v) {
      map.delete(k);
      map.set(k, v);
      while (map.size > max) map.delete(map.keys().next().value!);
    },
    delete: (k) => void map.delete(k),
    clear: () => map.clear(),
  };
}

export interface PcsCollateralSourceOptions {
  /**
   * PCS or PCCS base URL, e.g. `https://api.trustedservices.intel.com` or
   * `https://pccs.internal:8081`. A trailing `/sgx/certification/v4` (or `tdx`,
   * or `v3`) is accepted and stripped.
   */
  baseUrl: string;
  /** Web `fetch` to use (default: `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
  /** Cache for parsed answers (default: a new in-memory cache); `false` disables caching. */
  cache?: CollateralCache | false;
  /** Whole-request timeout including the body, ms (default 10 000). */
  timeoutMs?: number;
  /** Clock, unix seconds (default: system time). Decides cache freshness and staleness. */
  now?: () => number;
  /**
   * Root CA CRL URL. Default: {@link INTEL_ROOT_CA_CRL_URL} when `baseUrl` is
   * Intel's PCS, otherwise `<baseUrl>/sgx/certification/v4/rootcacrl` (PCCS).
   */
  rootCaCrlUrl?: string;
  /** Maximum body size, bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** PCS `update` parameter for TCB Info and QE Identity (`early` or `standard`); omitted by default. */
  update?: 'early' | 'standard';
  /** Extra request headers (e.g. a PCCS auth header). */
  headers?: Record<string, string>;
}

/** What to fetch collateral for; `fmspc` and `pckCa` come from the quote's PCK certificate. */
export interface CollateralRequest {
  tee: IntelTee;
  /** 6 bytes, hex (either case). */
  fmspc: string;
  /** Which PCK CA issued the PCK certificate. */
  pckCa: PckCa;
}

/** The parsed items plus when the assembled collateral stops being usable. */
export interface PcsCollateral extends PcsCollateralItems {
  collateral: IntelCollateral;
  /** Earliest nextUpdate of the four items, unix seconds. */
  nextUpdate: number;
}

export interface PcsCollateralSource {
  /** The normalized collateral the TDX/SGX verifier takes. */
  getCollateral(req: CollateralRequest): Promise<IntelCollateral>;
  /** The same, with the parsed items and the overall `nextUpdate`. */
  getCollateralDetailed(req: CollateralRequest): Promise<PcsCollateral>;
  getTcbInfo(tee: IntelTee, fmspc: string): Promise<TcbInfoItem>;
  getQeIdentity(tee: IntelTee): Promise<SignedJsonItem>;
  getPckCrl(ca: PckCa): Promise<CrlItem>;
  getRootCaCrl(): Promise<CrlItem>;
  /** The URLs `getCollateral(req)` fetches (also the cache keys). */
  urlsFor(req: CollateralRequest): { tcbInfo: string; qeIdentity: string; pckCrl: string; rootCaCrl: string };
  /** Drops every cached answer. */
  clearCache(): void;
}

function httpUrl(raw: string, what: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch (e) {
    throw new CollateralSourceConfigError(`${what} is not a URL: ${raw}`, { cause: e });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CollateralSourceConfigError(`${what} must be http(s)`);
  return u.href;
}

function normalizeBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch (e) {
    throw new CollateralSourceConfigError(`baseUrl is not a URL: ${raw}`, { cause: e });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CollateralSourceConfigError('baseUrl must be http(s)');
  if (u.search || u.hash) throw new CollateralSourceConfigError('baseUrl must not have a query or fragment');
  const path = u.pathname.replace(/\/+$/, '').replace(/\/(?:sgx|tdx)\/certification\/v[34]$/, '');
  return `${u.origin}${path}`;
}

/**
 * Creates a PCS/PCCS collateral source.
 *
 * @example
 * const pcs = createPcsCollateralSource({ baseUrl: INTEL_PCS_URL });
 * const collateral = await pcs.getCollateral({ tee: 'tdx', fmspc: '90c06f000000', pckCa: 'platform' });
 */
export function createPcsCollateralSource(opts: PcsCollateralSourceOptions): PcsCollateralSource {
  const base = normalizeBaseUrl(opts.baseUrl);
  if (!opts.fetch && typeof globalThis.fetch !== 'function') {
    throw new CollateralSourceConfigError('no fetch implementation: pass options.fetch');
  }
  const fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const cache = opts.cache === false ? undefined : (opts.cache ?? createMemoryCollateralCache());
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const clock = opts.now ?? (() => Math.floor(Date.now() / 1000));
  if (!(timeoutMs > 0)) throw new CollateralSourceConfigError('timeoutMs must be positive');
  if (!(maxBody > 0)) throw new CollateralSourceConfigError('maxBodyBytes must be positive');
  if (opts.update !== undefined && opts.update !== 'early' && opts.update !== 'standard') {
    throw new CollateralSourceConfigError('update must be "early" or "standard"');
  }
  const isIntelPcs = new URL(base).host === new URL(INTEL_PCS_URL).host;
  const rootCaCrlUrl = opts.rootCaCrlUrl
    ? httpUrl(opts.rootCaCrlUrl, 'rootCaCrlUrl')
    : isIntelPcs
      ? INTEL_ROOT_CA_CRL_URL
      : `${base}/sgx/certification/v4/rootcacrl`;
  const updateQuery = opts.update ? `update=${opts.update}` : '';
  const inflight = new Map<string, Promise<unknown>>();

  const checkTee = (tee: string): IntelTee => {
    if (tee !== 'tdx' && tee !== 'sgx') throw new CollateralFetchError('invalid-request', `unknown TEE ${String(tee)}`);
    return tee;
  };
  const checkFmspc = (fmspc: string): string => {
    if (typeof fmspc !== 'string' || !/^[0-9a-fA-F]{12}$/.test(fmspc)) {
      throw new CollateralFetchError('invalid-request', 'FMSPC must be 6 bytes of hex');
    }
    return fmspc.toLowerCase();
  };
  const checkCa = (ca: string): PckCa => {
    if (ca !== 'processor' && ca !== 'platform') throw new CollateralFetchError('invalid-request', `unknown PCK CA ${String(ca)}`);
    return ca;
  };
  const withQuery = (path: string, ...params: string[]) => {
    const q = params.filter(Boolean).join('&');
    return q ? `${path}?${q}` : path;
  };
  const tcbUrl = (tee: IntelTee, fmspc: string) =>
    withQuery(`${base}/${tee}/certification/v4/tcb`, `fmspc=${fmspc}`, updateQuery);
  const qeUrl = (tee: IntelTee) => withQuery(`${base}/${tee}/certification/v4/qe/identity`, updateQuery);
  const crlUrl = (ca: PckCa) => `${base}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;

  /** GET `url` within the timeout; 200 only; body capped at `maxBody`. */
  async function httpGet(url: string): Promise<PcsResponseParts> {
    const ctrl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new CollateralFetchError('timeout', `no complete answer from ${url} within ${timeoutMs} ms`, { url }));
        ctrl.abort();
      }, timeoutMs);
    });
    const attempt = (async (): Promise<PcsResponseParts> => {
      let res: Response;
      try {
        res = await fetchFn(url, { method: 'GET', headers: { ...opts.headers }, signal: ctrl.signal, redirect: 'follow' });
      } catch (e) {
        throw new CollateralFetchError('network', `request to ${url} failed: ${(e as Error)?.message ?? e}`, { cause: e, url });
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        const code = res.headers.get('Error-Code');
        throw new CollateralFetchError(
          'http-status',
          `${url} answered ${res.status}${code ? ` (Error-Code ${code})` : ''}`,
          { url, status: res.status },
        );
      }
      const declared = Number(res.headers.get('content-length'));
      if (Number.isFinite(declared) && declared > maxBody) {
        await res.body?.cancel().catch(() => {});
        throw new CollateralFetchError('too-large', `${url} body is ${declared} bytes, over ${maxBody}`, { url });
      }
      const body = await readBody(res, url);
      return { body, headers: res.headers, url };
    })();
    try {
      return await Promise.race([attempt, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function readBody(res: Response, url: string): Promise<Uint8Array> {
    if (!res.body) return new Uint8Array(0);
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > maxBody) {
          await reader.cancel().catch(() => {});
          throw new CollateralFetchError('too-large', `${url} body is over ${maxBody} bytes`, { url });
        }
        chunks.push(value);
      }
    } catch (e) {
      if (e instanceof CollateralFetchError) throw e;
      throw new CollateralFetchError('network', `reading ${url} failed: ${(e as Error)?.message ?? e}`, { cause: e, url });
    }
    return concatByteList(chunks);
  }

  function stale(url: string, nextUpdate: number): CollateralStaleError {
    return new CollateralStaleError(
      `collateral from ${url} expired at ${new Date(nextUpdate * 1000).toISOString()}`,
      nextUpdate,
      url,
    );
  }

  /**
   * Serves `url` from the cache while `now < nextUpdate`, else fetches,
   * parses and checks it (one request per URL at a time), and caches it.
   */
  async function item<T extends { nextUpdate: number }>(
    url: string,
    parse: (parts: PcsResponseParts) => T,
    check: (value: T) => void,
  ): Promise<T> {
    const hit = cache?.get(url);
    if (hit) {
      if (clock() < hit.nextUpdate) return structuredClone(hit.value as T);
      cache!.delete(url);
    }
    let p = inflight.get(url) as Promise<T> | undefined;
    if (!p) {
      p = (async () => {
        const value = parse(await httpGet(url));
        check(value);
        const now = clock();
        if (now >= value.nextUpdate) throw stale(url, value.nextUpdate);
        cache?.set(url, { value, nextUpdate: value.nextUpdate, fetchedAt: now });
        return value;
      })().finally(() => inflight.delete(url));
      inflight.set(url, p);
    }
    const value = await p;
    if (clock() >= value.nextUpdate) throw stale(url, value.nextUpdate);
    return structuredClone(value);
  }

  const mismatch = (url: string, what: string) =>
    new CollateralFetchError('mismatch', `${url} answered ${what}`, { url });

  const source: PcsCollateralSource = {
    getTcbInfo(tee, fmspc) {
      return Promise.resolve().then(() => {
        const t = checkTee(tee);
        const f = checkFmspc(fmspc);
        const url = tcbUrl(t, f);
        return item(url, parseTcbInfoResponse, (v) => {
          if (v.id !== EXPECTED.tcbInfoId[t]) throw mismatch(url, `TCB Info id ${v.id}, expected ${EXPECTED.tcbInfoId[t]}`);
          if (v.fmspc !== f) throw mismatch(url, `TCB Info for FMSPC ${v.fmspc}, expected ${f}`);
        });
      });
    },
    getQeIdentity(tee) {
      return Promise.resolve().then(() => {
        const t = checkTee(tee);
        const url = qeUrl(t);
        return item(url, parseQeIdentityResponse, (v) => {
          if (v.id !== EXPECTED.qeIdentityId[t]) throw mismatch(url, `identity ${v.id}, expected ${EXPECTED.qeIdentityId[t]}`);
        });
      });
    },
    getPckCrl(ca) {
      return Promise.resolve().then(() => {
        const c = checkCa(ca);
        const url = crlUrl(c);
        return item(url, parsePckCrlResponse, (v) => {
          if (v.issuerCommonName !== EXPECTED.pckCrlIssuer[c]) {
            throw mismatch(url, `a CRL from ${v.issuerCommonName ?? 'an unnamed issuer'}, expected ${EXPECTED.pckCrlIssuer[c]}`);
          }
        });
      });
    },
    getRootCaCrl() {
      return item(rootCaCrlUrl, parseRootCaCrlResponse, (v) => {
        if (v.issuerCommonName !== EXPECTED.rootCaCrlIssuer) {
          throw mismatch(rootCaCrlUrl, `a CRL from ${v.issuerCommonName ?? 'an unnamed issuer'}, expected ${EXPECTED.rootCaCrlIssuer}`);
        }
      });
    },
    async getCollateralDetailed(req) {
      const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = await Promise.all([
        source.getTcbInfo(req.tee, req.fmspc),
        source.getQeIdentity(req.tee),
        source.getPckCrl(req.pckCa),
        source.getRootCaCrl(),
      ]);
      const items = { tcbInfo, qeIdentity, pckCrl, rootCaCrl };
      return { ...items, collateral: toIntelCollateral(items), nextUpdate: itemsNextUpdate(items) };
    },
    async getCollateral(req) {
      return (await source.getCollateralDetailed(req)).collateral;
    },
    urlsFor(req) {
      const t = checkTee(req.tee);
      return {
        tcbInfo: tcbUrl(t, checkFmspc(req.fmspc)),
        qeIdentity: qeUrl(t),
        pckCrl: crlUrl(checkCa(req.pckCa)),
        rootCaCrl: rootCaCrlUrl,
      };
    },
    clearCache() {
      cache?.clear();
    },
  };
  return source;
}
