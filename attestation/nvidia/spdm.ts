/**
 * Local verification of NVIDIA GPU evidence: an SPDM 1.1 GET_MEASUREMENTS
 * request and its signed MEASUREMENTS response, plus the device identity
 * certificate chain, as nvtrust's local GPU verifier collects them.
 *
 * parse → verify (chain to the pinned NVIDIA device root, ECDSA P-384/SHA-384
 * signature over request ‖ response-without-signature, FWID binding) →
 * validate (the request nonce equals the expected nonce).
 *
 * Optionally (`rims` option) the measurements are compared with the signed
 * driver and VBIOS RIMs (see `rim.ts`). Not done: OCSP revocation checks of
 * the device and RIM certificates, and fetching RIMs from NVIDIA's RIM service.
 */
import {
  AttestationError,
  KindNotAllowedError,
  MalformedEvidenceError,
  MeasurementNotAllowedError,
  NonceMismatchError,
  UnsupportedFormatError,
} from '../errors.ts';
import { matchesMeasurementSet } from '../policy.ts';
import type { GpuVerdict, GpuVerifier, VerifyContext } from '../types.ts';
import { equalBytes, fromBase64, fromHex, toHex } from '../util/bytes.ts';
import { nameAttribute, verifyEcdsaRaw } from '../x509/index.ts';
import { diceFwids, ecdsaKeyCurve, parseCert, pemToDer, subjectCommonName, verifyChainToRoot } from './certs.ts';
import { FwidMismatchError, SpdmSignatureInvalidError } from './errors.ts';
import { compareWithRims, verifyRim } from './rim.ts';
import { NVIDIA_DEVICE_ROOT_PEM } from './roots.ts';

const SPDM_GET_MEASUREMENTS = 0xe0;
const SPDM_MEASUREMENTS = 0x60;
/**
 * SPDM versions handled: 1.1 only (Hopper). From 1.2 on, the signature covers
 * a signing-context prefix and a transcript hash rather than the raw
 * messages, and 1.3 adds requester context; those are refused as unsupported.
 */
const SUPPORTED_VERSIONS = new Set([0x11]);
const NONCE_LEN = 32;
const SIG_LEN = 96; // ECDSA P-384 r‖s
const MAX_GPUS = 64;
const MAX_REPORT = 64 * 1024;

/** NVIDIA opaque-data field types (TLVs after the response nonce). */
export const OpaqueField = {
  DRIVER_VERSION: 3,
  GPU_INFO: 4,
  VBIOS_VERSION: 6,
  BOARD_ID: 14,
  CHIP_SKU: 15,
  CHIP_SKU_MOD: 16,
  PROJECT: 17,
  PROJECT_SKU: 18,
  PROJECT_SKU_MOD: 19,
  FWID: 20,
  PROTECTED_PCIE_STATUS: 21,
} as const;

/** One DMTF measurement block of a MEASUREMENTS response. */
export interface SpdmMeasurementBlock {
  index: number;
  /** MeasurementSpecification bitmask (1 = DMTF). */
  specification: number;
  /** DMTFSpecMeasurementValueType. */
  valueType: number;
  value: Uint8Array;
}

/** A parsed GET_MEASUREMENTS request + MEASUREMENTS response pair. */
export interface SpdmReport {
  version: number;
  /** Nonce the requester (the verifier's nonce) put in the request. */
  requestNonce: Uint8Array;
  /** Measurement operation (0xFF = all). */
  operation: number;
  slotId: number;
  /** Random nonce chosen by the GPU. */
  responseNonce: Uint8Array;
  blocks: SpdmMeasurementBlock[];
  /** NVIDIA opaque TLVs by type (first occurrence). */
  opaque: Map<number, Uint8Array>;
  /** The bytes the signature covers: request ‖ response up to the signature. */
  signed: Uint8Array;
  /** Raw r‖s. */
  signature: Uint8Array;
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u24 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);

/**
 * Parses NVIDIA SPDM evidence: the 37-byte GET_MEASUREMENTS request followed
 * by the signed MEASUREMENTS response. Throws `MalformedEvidenceError` or
 * `UnsupportedFormatError`; never reads out of bounds.
 */
export function parseSpdmReport(bytes: Uint8Array): SpdmReport {
  const need = (end: number, what: string) => {
    if (end > bytes.length) throw new MalformedEvidenceError(`SPDM evidence truncated in ${what}`);
  };
  if (bytes.length > MAX_REPORT) throw new MalformedEvidenceError('SPDM evidence is too large');
  need(4, 'request header');
  const version = bytes[0]!;
  if (!SUPPORTED_VERSIONS.has(version)) {
    throw new UnsupportedFormatError(`SPDM version 0x${version.toString(16)} is not supported`);
  }
  if (bytes[1] !== SPDM_GET_MEASUREMENTS) throw new MalformedEvidenceError('evidence does not start with GET_MEASUREMENTS');
  if ((bytes[2]! & 1) === 0) throw new MalformedEvidenceError('GET_MEASUREMENTS did not request a signature');
  const operation = bytes[3]!;
  need(4 + NONCE_LEN + 1, 'request');
  const requestNonce = bytes.slice(4, 4 + NONCE_LEN);
  const slotId = bytes[4 + NONCE_LEN]! & 0x0f;
  const r = 4 + NONCE_LEN + 1; // response offset
  need(r + 8, 'response header');
  if (bytes[r] !== version) throw new MalformedEvidenceError('SPDM response version differs from the request');
  if (bytes[r + 1] !== SPDM_MEASUREMENTS) throw new MalformedEvidenceError('response is not MEASUREMENTS');
  const nBlocks = bytes[r + 4]!;
  const recLen = u24(bytes, r + 5);
  const recStart = r + 8;
  const recEnd = recStart + recLen;
  need(recEnd, 'measurement record');
  const blocks: SpdmMeasurementBlock[] = [];
  const seen = new Set<number>();
  let p = recStart;
  while (p < recEnd) {
    if (p + 4 > recEnd) throw new MalformedEvidenceError('measurement block header truncated');
    const index = bytes[p]!;
    const specification = bytes[p + 1]!;
    const size = u16(bytes, p + 2);
    const end = p + 4 + size;
    if (end > recEnd) throw new MalformedEvidenceError(`measurement block ${index} runs past the record`);
    if ((specification & 1) === 0) throw new UnsupportedFormatError(`measurement block ${index} is not DMTF format`);
    if (size < 3) throw new MalformedEvidenceError(`measurement block ${index} too short`);
    const valueType = bytes[p + 4]!;
    const valueSize = u16(bytes, p + 5);
    if (3 + valueSize !== size) throw new MalformedEvidenceError(`measurement block ${index} size mismatch`);
    if (seen.has(index)) throw new MalformedEvidenceError(`measurement index ${index} repeats`);
    seen.add(index);
    blocks.push({ index, specification, valueType, value: bytes.slice(p + 7, end) });
    p = end;
  }
  if (blocks.length !== nBlocks) {
    throw new MalformedEvidenceError(`response announces ${nBlocks} blocks but carries ${blocks.length}`);
  }
  need(recEnd + NONCE_LEN + 2, 'response nonce');
  const responseNonce = bytes.slice(recEnd, recEnd + NONCE_LEN);
  const opaqueLen = u16(bytes, recEnd + NONCE_LEN);
  const opaqueStart = recEnd + NONCE_LEN + 2;
  const opaqueEnd = opaqueStart + opaqueLen;
  need(opaqueEnd + SIG_LEN, 'opaque data and signature');
  if (opaqueEnd + SIG_LEN !== bytes.length) {
    throw new MalformedEvidenceError(`${bytes.length - opaqueEnd - SIG_LEN} unexpected bytes after the signature`);
  }
  const opaque = new Map<number, Uint8Array>();
  let q = opaqueStart;
  while (q < opaqueEnd) {
    if (q + 4 > opaqueEnd) throw new MalformedEvidenceError('opaque field header truncated');
    const type = u16(bytes, q);
    const len = u16(bytes, q + 2);
    if (q + 4 + len > opaqueEnd) throw new MalformedEvidenceError(`opaque field ${type} runs past the opaque data`);
    if (!opaque.has(type)) opaque.set(type, bytes.slice(q + 4, q + 4 + len));
    q += 4 + len;
  }
  return {
    version,
    requestNonce,
    operation,
    slotId,
    responseNonce,
    blocks,
    opaque,
    signed: bytes.slice(0, opaqueEnd),
    signature: bytes.slice(opaqueEnd),
  };
}

function cString(b: Uint8Array | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? b.subarray(0, nul) : b);
}

/** VBIOS version as NVIDIA prints it, e.g. `96.00.9F.00.01`. */
function vbiosVersion(b: Uint8Array | undefined): string | undefined {
  if (!b || b.length < 5) return undefined;
  const h = (x: number) => x.toString(16).padStart(2, '0').toUpperCase();
  return [h(b[3]!), h(b[2]!), h(b[1]!), h(b[0]!), h(b[4]!)].join('.');
}

/** The outcome for one GPU. */
export interface SpdmGpuResult {
  arch?: string;
  /** Device leaf certificate subject serialNumber (identifies the GPU's FMC key). */
  deviceId?: string;
  /** Device leaf certificate common name, e.g. `GH100 A01 GSP FMC LF`. */
  leafSubject: string;
  /** Measurement values by SPDM index (decimal), lowercase hex. */
  measurements: Record<string, string>;
  driverVersion?: string;
  vbiosVersion?: string;
  /** FWID from the opaque data (hex), matched against the leaf certificate. */
  fwid?: string;
  /** Board project, project SKU and chip SKU from the opaque data (they name the VBIOS RIM, e.g. `1010_0200_882_…`). */
  project?: string;
  projectSku?: string;
  chipSku?: string;
  /** Earliest notAfter in the chain (and the RIM chains when checked), unix seconds. */
  chainExpiresAt: number;
  /** Present when RIMs were checked. */
  rim?: { driverVersion: string; vbiosVersion: string; matched: number[] };
}

/** Options for `verifySpdmReport` / `verifySpdmEvidence`. */
export interface SpdmVerifyOptions {
  /** Expected requester nonce (32 bytes, or 64 hex characters). */
  nonce: Uint8Array | string;
  /** Evaluation time, unix seconds. */
  now: number;
  /** Trust anchor (DER). Default: the pinned NVIDIA Device Identity CA. */
  root?: Uint8Array;
  /**
   * Supplies the signed driver and VBIOS RIMs (SWID tag XML) for a GPU whose
   * report verified. When given, the RIMs are verified (signature, chain to
   * the pinned CoRIM root at `now`) and the measurements must match them.
   */
  rims?: (gpu: SpdmGpuResult) => Promise<{ driver: string; vbios: string }>;
}

let pinnedRoot: Uint8Array | undefined;
function defaultRoot(): Uint8Array {
  pinnedRoot ??= pemToDer(NVIDIA_DEVICE_ROOT_PEM)[0]!;
  return pinnedRoot;
}

function nonceBytes(n: Uint8Array | string): Uint8Array {
  if (typeof n !== 'string') return n;
  try {
    return fromHex(n);
  } catch {
    throw new NonceMismatchError('expected nonce is not hex');
  }
}

/**
 * Verifies one GPU's SPDM evidence and certificate chain (leaf first; PEM text
 * or DER list). Throws an `AttestationError` subclass on any failure.
 */
export async function verifySpdmReport(
  report: Uint8Array,
  chain: string | Uint8Array[],
  opts: SpdmVerifyOptions,
): Promise<SpdmGpuResult> {
  return guard(async () => {
    const expected = nonceBytes(opts.nonce);
    const parsed = parseSpdmReport(report);
    const ders = typeof chain === 'string' ? pemToDer(chain) : chain;
    if (ders.length === 0) throw new MalformedEvidenceError('certificate chain is empty');
    // The signature check is cheap; do it before the chain so garbage fails fast.
    // Both must pass: the key is trusted only once the chain below verifies.
    const signer = parseCert(ders[0]!);
    const { size } = await ecdsaKeyCurve(signer);
    if (size !== 48) throw new SpdmSignatureInvalidError('device leaf key is not P-384');
    if (!(await verifyEcdsaRaw(signer, 'SHA-384', parsed.signature, parsed.signed))) {
      throw new SpdmSignatureInvalidError('SPDM measurement signature does not verify with the device leaf key');
    }
    const path = await verifyChainToRoot(ders, opts.root ?? defaultRoot(), opts.now);
    const leaf = path[0]!;
    if (!equalBytes(parsed.requestNonce, expected)) {
      throw new NonceMismatchError(
        `SPDM request nonce ${toHex(parsed.requestNonce)} is not the expected ${toHex(expected)}`,
      );
    }
    const fwidBytes = parsed.opaque.get(OpaqueField.FWID);
    const fwid = fwidBytes ? toHex(fwidBytes) : undefined;
    const certFwids = diceFwids(leaf);
    if (certFwids) {
      if (!fwid || !certFwids.includes(fwid)) {
        throw new FwidMismatchError('FWID in the SPDM opaque data does not match the device leaf certificate');
      }
    }
    const measurements: Record<string, string> = {};
    for (const b of parsed.blocks) measurements[String(b.index)] = toHex(b.value);
    const chainExpiresAt = Math.min(...path.map((c) => c.notAfter));
    const result: SpdmGpuResult = {
      leafSubject: subjectCommonName(leaf),
      measurements,
      chainExpiresAt,
    };
    const deviceId = nameAttribute(leaf.subjectDer, '2.5.4.5');
    if (deviceId) result.deviceId = deviceId;
    const driverVersion = cString(parsed.opaque.get(OpaqueField.DRIVER_VERSION));
    if (driverVersion) result.driverVersion = driverVersion;
    const vbios = vbiosVersion(parsed.opaque.get(OpaqueField.VBIOS_VERSION));
    if (vbios) result.vbiosVersion = vbios;
    if (fwid) result.fwid = fwid;
    const project = cString(parsed.opaque.get(OpaqueField.PROJECT));
    const projectSku = cString(parsed.opaque.get(OpaqueField.PROJECT_SKU));
    const chipSku = cString(parsed.opaque.get(OpaqueField.CHIP_SKU));
    if (project) result.project = project;
    if (projectSku) result.projectSku = projectSku;
    if (chipSku) result.chipSku = chipSku;
    if (opts.rims) {
      const texts = await opts.rims(result);
      const driver = await verifyRim(texts.driver, { now: opts.now });
      const vbios = await verifyRim(texts.vbios, { now: opts.now });
      const versions: { driverVersion?: string; vbiosVersion?: string } = {};
      if (result.driverVersion) versions.driverVersion = result.driverVersion;
      if (result.vbiosVersion) versions.vbiosVersion = result.vbiosVersion;
      const { matched } = compareWithRims(measurements, { driver, vbios }, versions);
      result.rim = { driverVersion: driver.version, vbiosVersion: vbios.version, matched };
      result.chainExpiresAt = Math.min(result.chainExpiresAt, driver.chainExpiresAt, vbios.chainExpiresAt);
    }
    return result;
  });
}

/** One GPU's evidence in any accepted shape, normalized. */
interface Entry {
  arch?: string;
  report: Uint8Array;
  chain: string | Uint8Array[];
}

function decodeBytes(v: unknown, what: string, hexFirst: boolean): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v !== 'string' || v.length === 0) throw new MalformedEvidenceError(`${what} is missing`);
  const t = v.trim();
  // Base64 SPDM evidence starts "EeAB"; hex starts "11e0". Either is accepted.
  const useHex = /^(0x)?[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0 && (hexFirst || /^(0x)?11e0/i.test(t));
  try {
    return useHex ? fromHex(t) : fromBase64(t);
  } catch (e) {
    throw new MalformedEvidenceError(`${what} is neither hex nor base64`, { cause: e });
  }
}

function decodeChain(v: unknown): string | Uint8Array[] {
  if (typeof v === 'string') {
    if (v.includes('-----BEGIN')) return v;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(fromBase64(v));
    } catch (e) {
      throw new MalformedEvidenceError('certificate chain is neither PEM nor base64 PEM', { cause: e });
    }
    return text;
  }
  if (Array.isArray(v) && v.length > 0) {
    if (v.every((x) => x instanceof Uint8Array)) return v as Uint8Array[];
    if (v.every((x) => typeof x === 'string')) return (v as string[]).join('\n');
  }
  throw new MalformedEvidenceError('certificate chain is missing');
}

function toEntry(v: unknown): Entry {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MalformedEvidenceError('GPU evidence entry is not an object');
  const o = v as Record<string, unknown>;
  const arch = o['arch'];
  if (arch !== undefined && typeof arch !== 'string') throw new MalformedEvidenceError('GPU evidence arch is not a string');
  if (arch !== undefined && arch.toUpperCase() !== 'HOPPER') {
    throw new UnsupportedFormatError(`GPU architecture ${arch} is not supported by the local SPDM verifier`);
  }
  const report =
    o['evidence'] !== undefined
      ? decodeBytes(o['evidence'], 'SPDM evidence', false)
      : decodeBytes(o['report'] ?? o['attestationReport'], 'SPDM report', true);
  const chain = decodeChain(o['certificate'] ?? o['certChain'] ?? o['certificateChain']);
  return arch === undefined ? { report, chain } : { arch, report, chain };
}

/** Normalizes the accepted evidence shapes into a list of entries. */
function entries(input: unknown): Entry[] {
  let list: unknown = input;
  if (typeof list === 'string') {
    try {
      list = JSON.parse(list);
    } catch (e) {
      throw new MalformedEvidenceError('GPU evidence string is not JSON', { cause: e });
    }
  }
  if (typeof list === 'object' && list !== null && !Array.isArray(list)) {
    const o = list as Record<string, unknown>;
    if (Array.isArray(o['evidence_list'])) list = o['evidence_list'];
    else if (Array.isArray(o['evidences'])) list = o['evidences'];
    else list = [o];
  }
  if (!Array.isArray(list) || list.length === 0) throw new MalformedEvidenceError('GPU evidence list is empty');
  if (list.length > MAX_GPUS) throw new MalformedEvidenceError(`more than ${MAX_GPUS} GPU evidence entries`);
  return list.map(toEntry);
}

/**
 * Verifies local NVIDIA GPU evidence for every GPU it lists. Accepted shapes:
 * nvtrust's `gpu_evidence.json` list (`[{arch, evidence (base64), certificate
 * (base64 PEM)}]`), an NRAS request body (`{evidence_list}`), `{evidences}`,
 * a single entry, or `{report (hex), certChain (PEM)}`. A JSON string of any
 * of these is parsed first. Every GPU must verify and carry the expected nonce.
 *
 * @example
 * const { gpus } = await verifySpdmEvidence(json, { nonce: nonceHex, now: Date.now() / 1000 });
 */
export async function verifySpdmEvidence(input: unknown, opts: SpdmVerifyOptions): Promise<{ gpus: SpdmGpuResult[] }> {
  return guard(async () => {
    const gpus: SpdmGpuResult[] = [];
    for (const [i, e] of entries(input).entries()) {
      try {
        const r = await verifySpdmReport(e.report, e.chain, opts);
        if (e.arch) r.arch = e.arch;
        gpus.push(r);
      } catch (err) {
        if (err instanceof AttestationError) err.message = `GPU ${i}: ${err.message}`;
        throw err;
      }
    }
    return { gpus };
  });
}

/** Runs `fn`; any non-`AttestationError` becomes `MalformedEvidenceError`. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new MalformedEvidenceError('GPU evidence could not be processed', { cause: e });
  }
}

/** Options for `createSpdmVerifier`. */
export interface SpdmVerifierOptions {
  /** RIM source; when given, every GPU's measurements must match its signed RIMs (see `SpdmVerifyOptions.rims`). */
  rims?: SpdmVerifyOptions['rims'];
}

/**
 * Builds a GPU verifier for local SPDM evidence (kind `nvidia-spdm`). The
 * verdict lists each GPU's measurements by SPDM index; it expires at the
 * earliest certificate expiry or after `policy.maxVerdictSeconds`.
 *
 * Without `rims`, the measurements are authenticated (signature, chain,
 * nonce) but not judged: compare them yourself or pass a RIM source.
 */
export function createSpdmVerifier(options: SpdmVerifierOptions = {}): GpuVerifier {
  return {
    kind: 'nvidia-spdm',
    async verify(evidence: unknown, expectedNonce: Uint8Array, ctx: VerifyContext): Promise<GpuVerdict> {
      const spdmPolicy = ctx.policy.gpu.spdm;
      if (!spdmPolicy) throw new KindNotAllowedError('policy has no gpu.spdm section: local SPDM evidence is refused');
      const opts: SpdmVerifyOptions = { nonce: expectedNonce, now: ctx.now };
      if (options.rims) opts.rims = options.rims;
      const { gpus } = await verifySpdmEvidence(evidence, opts);
      const allowed = spdmPolicy.measurements;
      for (const g of gpus) {
        if (allowed && !matchesMeasurementSet(g.measurements, allowed)) {
          throw new MeasurementNotAllowedError(`GPU ${g.deviceId ?? g.leafSubject} measurements match no allowed set`);
        }
      }
      const expiresAt = Math.min(ctx.now + ctx.policy.maxVerdictSeconds, ...gpus.map((g) => g.chainExpiresAt));
      return {
        kind: 'nvidia-spdm',
        nonce: expectedNonce,
        gpus: gpus.map((g) => {
          const measurements: Record<string, string> = { ...g.measurements };
          const out: GpuVerdict['gpus'][number] = { model: g.arch ? `${g.arch} ${g.leafSubject}` : g.leafSubject, measurements };
          if (g.deviceId) out.id = g.deviceId;
          return out;
        }),
        expiresAt,
      };
    },
  };
}

/** The `nvidia-spdm` verifier without RIM comparison (see `createSpdmVerifier`). */
export const nvidiaSpdmVerifier: GpuVerifier = createSpdmVerifier();
