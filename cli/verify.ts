/**
 * `sealgate verify`: checks one piece of attestation evidence offline and
 * prints the verdict. Node-only adapter (files, stdout) around `attestation/`.
 *
 * Exit codes: 0 accepted, 1 rejected (any typed attestation failure), 2 usage.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { decodeJwt } from 'jose';
import {
  AttestationError,
  CollateralInvalidError,
  CollateralUnavailableError,
  createBundleVerifier,
  DebugEnabledError,
  KindNotAllowedError,
  MalformedEvidenceError,
  parseEvidenceBundle,
  parsePolicy,
  PolicyInvalidError,
  ReportDataMismatchError,
  SimulatedNotAllowedError,
  simulatedVerifier,
  TcbStatusRejectedError,
  UnsupportedFormatError,
  verifyBundle,
  type GpuVerdict,
  type GpuVerifier,
  type Policy,
  type TeeVerdict,
  type TeeVerifier,
  type Verdict,
} from '../attestation/index.ts';
import {
  collateralRequestFromQuote,
  parseQeIdentityResponse,
  parseRootCaCrlResponse,
  parseTcbInfoResponse,
  toIntelCollateral,
  type CrlItem,
} from '../attestation/collateral/index.ts';
import {
  nvidiaSpdmVerifier,
  parseNrasResponse,
  parseSpdmReport,
  verifyNrasToken,
  verifySpdmEvidence,
  type Jwks,
  type SpdmGpuResult,
} from '../attestation/nvidia/index.ts';
import { SnpGuestPolicyBits, validateSnpReport, verifySnpReport, type SnpVerifyResult } from '../attestation/sev-snp/index.ts';
import { SIM_MAGIC } from '../attestation/simulated/abi.ts';
import {
  INTEL_SGX_ROOT_CA_DER,
  parseDcapQuote,
  validateTdxClaims,
  verifyDcapQuoteWithoutCollateral,
  verifyParsedDcapQuote,
  normalizeCollateral,
  type DcapQuote,
  type DcapSignatureResult,
  type IntelCollateral,
} from '../attestation/tdx/index.ts';
import { equalBytes, fromBase64, fromHex, toHex } from '../attestation/util/bytes.ts';
import { derToPem, parseCertificate, pemToDerList, type Certificate } from '../attestation/x509/index.ts';
import { TcbStatus } from '../attestation/policy.ts';
import { parse, UsageError } from './args.ts';

export const VERIFY_HELP = `sealgate verify — verify attestation evidence offline and print the verdict

Usage:
  sealgate verify <evidence-file> [--collateral <file|dir>] [--policy <file>]
                  [--nonce <hex>] [--at <unix seconds>] [--worker <id>] [--json]

Evidence (detected from the content; binary, hex with optional 0x and any
whitespace, or base64):
  Intel DCAP quote        TDX v4/v5 (TD1.0, TD1.5) or SGX v3
  AMD SEV-SNP report      1184-byte attestation report (VCEK or VLEK signed)
  NVIDIA NRAS result      v3 detached EAT [["JWT",…],{"GPU-0":…}] or a compact JWT
  NVIDIA SPDM evidence    nvtrust evidence list / NRAS request body (JSON), or a
                          raw GET_MEASUREMENTS request+response (cert chain as --collateral)
  sealgate bundle         an evidence bundle (JSON), a registration body {bundle},
                          a GET /v1/workers entry {evidence}, or the whole list
                          (then --worker <id> unless it holds one worker)
  simulated quote         development TEE; accepted only with a policy that sets allowSimulated

Options:
  --collateral <file|dir> Intel: a dcap-qvl QuoteCollateralV3 JSON, or a directory of
                          PCS answers (TCB Info and QE Identity bodies, TCB Signing
                          and PCK CA certificates, PCK and Root CA CRLs; picked by
                          the quote's FMSPC and CA). AMD: the VCEK/VLEK (DER or PEM,
                          optionally followed by ASK and ARK) or a directory with it;
                          pinned AMD roots are used for missing chain links.
                          NVIDIA: the NRAS JWKS JSON; the device cert chain (PEM) for a
                          raw SPDM report. May be repeated. Nothing is fetched, except
                          that a bundle checked with a --policy whose gpu.nras section has
                          no offline jwks (and none given here) fetches the NRAS JWKS,
                          exactly as the gateway would.
  --policy <file>         sealgate policy JSON (as for \`sealgate gateway\`); applied in full
  --nonce <hex>           expected nonce. Bundles: must equal the binding nonce (absent:
                          the bundle's own nonce is used and freshness is NOT shown).
                          NRAS/SPDM: must equal eat_nonce / the SPDM request nonce
                          (absent: the evidence's own). Raw TDX/SGX/SNP quotes: report
                          data must equal it, zero-padded to 64 bytes (absent: not checked).
  --at <unix seconds>     evaluation time (default: now)
  --worker <id>           which worker of a GET /v1/workers list to verify
  --json                  print one JSON object:
                          {accepted, kind, code?, reason?, policyApplied, notes,
                           verdict?{kind, measurements, reportData?, tcbStatus,
                           advisoryIds, expiresAt, evaluatedAt, validFrom?, details?,
                           gpus?, binding?}}

Accepted with --policy: everything the gateway checks at admission passes
(signatures, chains, CRLs, collateral windows, TCB status and advisories,
debug and attribute bits, allowed measurements, and for bundles the nonce and
the report-data binding of keys and models).

Accepted without --policy ("no policy applied" is printed) means, at --at:
  Intel     quote and QE report signatures, QE report-data binding, PCK chain
            to the pinned Intel SGX Root CA, PCK and Root CA CRLs (no revoked
            cert), TCB Info and QE Identity signatures and validity windows all
            pass, a TCB level matches, the converged status (platform, QE, TDX
            module) is exactly UpToDate, and the TD/enclave is not debuggable.
            Without --collateral only signatures and the PCK chain are checked
            and the verdict is COLLATERAL_UNAVAILABLE (exit 1).
  AMD       report signature by the VCEK/VLEK, VCEK/VLEK <- ASK/ASVK <- ARK to the
            pinned AMD root, validity windows, hwID = CHIP_ID and cert TCB =
            REPORTED_TCB (AMD publishes no TCB levels: status UpToDate means
            that), and guest policy DEBUG is clear.
  NRAS      every JWT's ES384 signature against the JWKS, exp/nbf/iat, issuer,
            eat_nonce, overall result true, submodule digests and each GPU's
            claims (measurements, secure boot, debug off, certificate status).
  SPDM      signature, device chain to the pinned NVIDIA root, FWID and request
            nonce; measurements are NOT compared with RIMs.
  bundle    the above for its TEE (and GPU) evidence, plus nonce and binding;
            its issuedAt is printed but not limited in age.
  Measurements are printed but NOT compared with any allow-list.

Exit status: 0 accepted, 1 rejected (the code says why; INTERNAL_ERROR is a
verifier bug, still a rejection), 2 usage error.`;

// ---------------------------------------------------------------- output shape

/** One verdict as printed (hex strings, unix seconds). */
export interface VerdictOut {
  kind: string;
  measurements: Record<string, string>;
  reportData?: string;
  tcbStatus: string;
  advisoryIds: string[];
  expiresAt: number;
  evaluatedAt: number;
  validFrom?: number;
  details?: Record<string, unknown>;
  gpus?: Array<Record<string, unknown>>;
  binding?: unknown;
}

/** What `sealgate verify --json` prints. */
export interface VerifyOutcome {
  accepted: boolean;
  kind: string;
  code?: string;
  reason?: string;
  policyApplied: boolean;
  notes: string[];
  verdict?: VerdictOut;
}

/** A rejection that still carries the claims established before it. */
class Rejection extends Error {
  constructor(
    readonly error: AttestationError,
    readonly verdict: VerdictOut,
  ) {
    super(error.message);
  }
}

const ALL_STATUSES = TcbStatus.options;

const NO_POLICY_NOTE =
  'no policy applied: measurements were NOT compared with any allow-list (--help says what no-policy acceptance checks)';
const SIMULATED_NOTE = 'INSECURE: simulated TEE evidence proves nothing about hardware (development only)';

const iso = (t: number) => (Number.isFinite(t) ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : String(t));

// ---------------------------------------------------------------- input decoding

type Detected =
  | { kind: 'dcap'; bytes: Uint8Array }
  | { kind: 'sev-snp'; bytes: Uint8Array }
  | { kind: 'simulated'; bytes: Uint8Array }
  | { kind: 'spdm-raw'; bytes: Uint8Array }
  | { kind: 'nvidia-nras'; value: unknown }
  | { kind: 'nvidia-spdm'; value: unknown; nonce?: string }
  | { kind: 'bundle'; value: unknown };

function isPrintable(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (!(c === 9 || c === 10 || c === 13 || (c >= 0x20 && c < 0x7f))) return false;
  }
  return true;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** Classifies raw evidence bytes by their magic/header fields. */
function classifyBinary(b: Uint8Array, encoding: string): Detected {
  if (b.length >= SIM_MAGIC.length && SIM_MAGIC.every((x, i) => b[i] === x)) return { kind: 'simulated', bytes: b };
  if (b.length >= 4 && [3, 4, 5].includes(u16(b, 0)) && u16(b, 2) === 2) return { kind: 'dcap', bytes: b };
  if (b.length >= 2 && (b[0] === 0x11 || b[0] === 0x12) && b[1] === 0xe0) return { kind: 'spdm-raw', bytes: b };
  if (b.length >= 0x38 && u32(b, 0) >= 2 && u32(b, 0) <= 5 && u32(b, 0x34) === 1) return { kind: 'sev-snp', bytes: b };
  throw new UnsupportedFormatError(
    `unrecognized ${encoding} evidence (${b.length} bytes): not an Intel DCAP quote, AMD SEV-SNP report, NVIDIA SPDM report or simulated quote`,
  );
}

/** Picks the evidence out of any accepted JSON shape. */
function classifyJson(v: unknown, worker: string | undefined): Detected {
  if (Array.isArray(v)) {
    if (Array.isArray(v[0]) && v[0][0] === 'JWT') return { kind: 'nvidia-nras', value: v };
    if (v.length > 0 && v.every((x) => isRecord(x) && ('evidence' in x || 'report' in x))) return { kind: 'nvidia-spdm', value: v };
    throw new UnsupportedFormatError('JSON array is neither an NRAS result nor a GPU evidence list');
  }
  if (!isRecord(v)) throw new UnsupportedFormatError('JSON evidence must be an object or an array');
  if ('tee' in v && 'binding' in v) return { kind: 'bundle', value: v };
  if (isRecord(v.bundle)) return { kind: 'bundle', value: v.bundle };
  if (isRecord(v.evidence) && 'tee' in v.evidence) return { kind: 'bundle', value: v.evidence };
  if (v.object === 'list' && Array.isArray(v.data)) {
    const data = v.data.filter(isRecord);
    const pick = worker === undefined ? (data.length === 1 ? data[0] : undefined) : data.find((w) => w.id === worker);
    if (!pick) {
      if (worker !== undefined) throw new UsageError(`no worker ${worker} in the list (${data.map((w) => String(w.id)).join(', ') || 'empty'})`);
      throw new UsageError(`the worker list holds ${data.length} workers; choose one with --worker <id> (${data.map((w) => String(w.id)).join(', ')})`);
    }
    return classifyJson(pick, undefined);
  }
  if (Array.isArray(v.evidence_list) || Array.isArray(v.evidences)) {
    const nonce = typeof v.nonce === 'string' ? v.nonce : undefined;
    return nonce === undefined ? { kind: 'nvidia-spdm', value: v } : { kind: 'nvidia-spdm', value: v, nonce };
  }
  if (('evidence' in v || 'report' in v || 'attestationReport' in v) && ('certificate' in v || 'certChain' in v || 'certificateChain' in v)) {
    return { kind: 'nvidia-spdm', value: v };
  }
  if (typeof v.tcb_info === 'string' || 'tcbInfo' in v || 'enclaveIdentity' in v) {
    throw new UnsupportedFormatError('this is Intel collateral, not evidence; pass it with --collateral');
  }
  if (Array.isArray(v.keys)) throw new UnsupportedFormatError('this is a JWKS, not evidence; pass it with --collateral');
  throw new UnsupportedFormatError('JSON is not an evidence bundle, NRAS result or NVIDIA GPU evidence');
}

/** Far above any real quote, report, token or bundle (an 8-GPU bundle is well under 1 MiB). */
const MAX_EVIDENCE_BYTES = 16 * 1024 * 1024;

/** Decodes an evidence file: binary, hex, base64, JWT or JSON. */
export function detectEvidence(raw: Uint8Array, worker?: string): Detected {
  if (raw.length === 0) throw new MalformedEvidenceError('evidence file is empty');
  if (raw.length > MAX_EVIDENCE_BYTES) throw new MalformedEvidenceError(`evidence is larger than ${MAX_EVIDENCE_BYTES} bytes`);
  let bytes = raw;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3); // UTF-8 BOM
  if (!isPrintable(bytes)) return classifyBinary(raw, 'binary');
  const text = new TextDecoder().decode(bytes).trim();
  if (text === '') throw new MalformedEvidenceError('evidence file holds only whitespace');
  if (text.startsWith('{') || text.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new MalformedEvidenceError(`evidence is not valid JSON: ${(e as Error).message}`);
    }
    return classifyJson(v, worker);
  }
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text)) return { kind: 'nvidia-nras', value: text };
  const compact = text.replace(/\s+/g, '');
  const hex = compact.replace(/^0x/i, '');
  if (hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(hex)) return classifyBinary(fromHex(hex), 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) {
    let decoded: Uint8Array;
    try {
      decoded = fromBase64(compact);
    } catch {
      throw new MalformedEvidenceError('evidence looks like base64 but does not decode');
    }
    if (decoded.length === 0) throw new MalformedEvidenceError('evidence decodes to nothing');
    return classifyBinary(decoded, 'base64');
  }
  throw new UnsupportedFormatError('text evidence is neither JSON, a JWT, hex nor base64');
}

// ---------------------------------------------------------------- collateral

interface FoundCert {
  cert: Certificate;
  cn: string;
  issuerCn: string;
  file: string;
}

/** Everything found in `--collateral`, sorted by role; assembled per evidence kind later. */
export interface CollateralFiles {
  path: string;
  v3: Array<{ file: string; value: Record<string, unknown> }>;
  tcbInfoBodies: Array<{ file: string; body: string; id: string; fmspc: string; issueDate: number }>;
  qeIdentityBodies: Array<{ file: string; body: string; id: string; issueDate: number }>;
  certs: FoundCert[];
  crls: Array<{ file: string; item: CrlItem }>;
  jwks: Array<{ file: string; value: Jwks }>;
  snpJson: Array<{ file: string; value: Record<string, unknown> }>;
  /** PEM files whose certificates are neither Intel nor AMD (NVIDIA device chains). */
  otherPemChains: Array<{ file: string; pem: string }>;
  ignored: string[];
}

const cnOf = (name: string) => /(?:^|,\s*)CN=([^,]*)/.exec(name)?.[1] ?? '';
const isIntelCn = (cn: string) => cn.startsWith('Intel SGX');
const isAmdCn = (cn: string) => /^(SEV-|ARK-)/.test(cn);

function certEntry(der: Uint8Array, file: string): FoundCert {
  const cert = parseCertificate(der);
  return { cert, cn: cert.subjectCommonName ?? '', issuerCn: cnOf(cert.issuer), file };
}

function jsonDates(o: Record<string, unknown>): number {
  const t = typeof o.issueDate === 'string' ? Date.parse(o.issueDate) : NaN;
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

function scanFile(file: string, bytes: Uint8Array, out: CollateralFiles): void {
  const name = basename(file);
  if (bytes.length === 0) return void out.ignored.push(name);
  if (isPrintable(bytes)) {
    const text = new TextDecoder().decode(bytes);
    const t = text.trim();
    if (t.startsWith('{')) {
      let v: unknown;
      try {
        v = JSON.parse(t);
      } catch {
        return void out.ignored.push(name);
      }
      if (!isRecord(v)) return void out.ignored.push(name);
      if (typeof v.tcb_info === 'string') return void out.v3.push({ file: name, value: v });
      if (isRecord(v.tcbInfo)) {
        const ti = v.tcbInfo;
        return void out.tcbInfoBodies.push({
          file: name,
          body: t,
          id: String(ti.id ?? 'SGX'),
          fmspc: String(ti.fmspc ?? '').toLowerCase(),
          issueDate: jsonDates(ti),
        });
      }
      if (isRecord(v.enclaveIdentity)) {
        const ei = v.enclaveIdentity;
        return void out.qeIdentityBodies.push({ file: name, body: t, id: String(ei.id ?? ''), issueDate: jsonDates(ei) });
      }
      if (Array.isArray(v.keys)) return void out.jwks.push({ file: name, value: v as unknown as Jwks });
      if (['vcek', 'vlek', 'vcekCert', 'vcek_cert', 'certChain', 'cert_chain'].some((k) => k in v)) {
        return void out.snpJson.push({ file: name, value: v });
      }
      return void out.ignored.push(name);
    }
    if (t.includes('-----BEGIN CERTIFICATE-----')) {
      let ders: Uint8Array[];
      try {
        ders = pemToDerList(t);
      } catch {
        return void out.ignored.push(name);
      }
      const entries: FoundCert[] = [];
      for (const d of ders) {
        try {
          entries.push(certEntry(d, name));
        } catch {
          /* not an X.509 certificate we can read */
        }
      }
      if (entries.length && entries.every((e) => !isIntelCn(e.cn) && !isAmdCn(e.cn))) {
        out.otherPemChains.push({ file: name, pem: t });
      }
      out.certs.push(...entries);
      return;
    }
  }
  // DER certificate, or a CRL (DER, PEM or hex).
  if (bytes[0] === 0x30) {
    try {
      out.certs.push(certEntry(bytes, name));
      return;
    } catch {
      /* maybe a CRL */
    }
  }
  try {
    out.crls.push({ file: name, item: parseRootCaCrlResponse({ body: bytes }) });
    return;
  } catch {
    /* not a CRL either */
  }
  out.ignored.push(name);
}

/** Reads `--collateral` (each a file, or every regular file of a directory; may repeat). */
export function readCollateral(paths: string | string[]): CollateralFiles {
  const list = typeof paths === 'string' ? [paths] : paths;
  const out: CollateralFiles = {
    path: list.join(', '),
    v3: [],
    tcbInfoBodies: [],
    qeIdentityBodies: [],
    certs: [],
    crls: [],
    jwks: [],
    snpJson: [],
    otherPemChains: [],
    ignored: [],
  };
  const files: string[] = [];
  for (const path of list) {
    try {
      files.push(
        ...(statSync(path).isDirectory()
          ? readdirSync(path)
              .sort()
              .map((f) => join(path, f))
              .filter((f) => statSync(f).isFile())
          : [path]),
      );
    } catch (e) {
      throw new UsageError(`cannot read collateral ${path}: ${(e as Error).message}`);
    }
  }
  for (const f of files) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(f));
    } catch (e) {
      throw new UsageError(`cannot read collateral ${f}: ${(e as Error).message}`);
    }
    scanFile(f, bytes, out);
  }
  return out;
}

/** Prefers a certificate valid at `now`, then the newest. */
function pickCert(certs: FoundCert[], now: number): FoundCert | undefined {
  const valid = certs.filter((c) => c.cert.notBefore <= now && now <= c.cert.notAfter);
  const pool = valid.length ? valid : certs;
  return [...pool].sort((a, b) => b.cert.notBefore - a.cert.notBefore)[0];
}

/** Builds the Intel collateral for `quote` from what `--collateral` holds. */
function intelCollateralFor(quote: Uint8Array, files: CollateralFiles, now: number, notes: string[]): unknown {
  const req = collateralRequestFromQuote(quote);
  const wantTcbId = req.tee === 'tdx' ? 'TDX' : 'SGX';
  if (files.v3.length) {
    const pick =
      files.v3.find((c) => {
        try {
          const ti = JSON.parse(String(c.value.tcb_info)) as Record<string, unknown>;
          return String(ti.fmspc).toLowerCase() === req.fmspc && String(ti.id ?? 'SGX') === wantTcbId;
        } catch {
          return false;
        }
      }) ?? files.v3[0]!;
    notes.push(`collateral: ${pick.file} (QuoteCollateralV3)`);
    return pick.value;
  }
  const missing = (what: string) =>
    new CollateralUnavailableError(`${files.path} has no ${what} for this quote (${req.tee.toUpperCase()}, FMSPC ${req.fmspc}, PCK ${req.pckCa} CA)`);
  const newest = <T extends { issueDate: number }>(xs: T[]) => [...xs].sort((a, b) => b.issueDate - a.issueDate)[0];
  const tcbBody = newest(files.tcbInfoBodies.filter((t) => t.id === wantTcbId && t.fmspc === req.fmspc));
  if (!tcbBody) throw missing('TCB Info');
  const qeBody = newest(files.qeIdentityBodies.filter((q) => q.id === (req.tee === 'tdx' ? 'TD_QE' : 'QE')));
  if (!qeBody) throw missing('QE Identity');
  const signer = pickCert(
    files.certs.filter((c) => c.cn === 'Intel SGX TCB Signing'),
    now,
  );
  if (!signer) throw missing('Intel SGX TCB Signing certificate');
  const caName = req.pckCa === 'platform' ? 'Intel SGX PCK Platform CA' : 'Intel SGX PCK Processor CA';
  const crlPick = (issuer: string) =>
    [...files.crls.filter((c) => c.item.issuerCommonName === issuer)].sort((a, b) => b.item.thisUpdate - a.item.thisUpdate)[0];
  const pckCrl = crlPick(caName);
  if (!pckCrl) throw missing(`CRL of the ${caName}`);
  const rootCrl = crlPick('Intel SGX Root CA');
  if (!rootCrl) throw missing('Intel SGX Root CA CRL');
  const pckCa = pickCert(
    files.certs.filter((c) => c.cn === caName),
    now,
  );
  const chainHeader = encodeURIComponent(derToPem(signer.cert.der) + derToPem(INTEL_SGX_ROOT_CA_DER));
  try {
    const tcbInfo = parseTcbInfoResponse({ body: tcbBody.body, headers: { 'TCB-Info-Issuer-Chain': chainHeader } });
    const qeIdentity = parseQeIdentityResponse({
      body: qeBody.body,
      headers: { 'SGX-Enclave-Identity-Issuer-Chain': chainHeader },
    });
    const pck: CrlItem = { ...pckCrl.item, issuerChain: pckCa ? [pckCa.cert.der, INTEL_SGX_ROOT_CA_DER] : [] };
    notes.push(
      `collateral: ${[tcbBody.file, qeBody.file, signer.file, pckCrl.file, rootCrl.file, ...(pckCa ? [pckCa.file] : [])].join(', ')}`,
    );
    return toIntelCollateral({ tcbInfo, qeIdentity, pckCrl: pck, rootCaCrl: rootCrl.item });
  } catch (e) {
    if (e instanceof AttestationError && e.code === 'COLLATERAL_UNAVAILABLE') {
      throw new CollateralInvalidError(e.message, { cause: e });
    }
    throw e;
  }
}

/** Candidate SEV-SNP collaterals (one per VCEK/VLEK found), most likely first. */
function snpCollateralsFor(files: CollateralFiles): unknown[] {
  if (files.snpJson.length) return files.snpJson.map((j) => j.value);
  const leaves = files.certs.filter((c) => c.cn === 'SEV-VCEK' || c.cn === 'SEV-VLEK');
  if (!leaves.length) {
    throw new CollateralUnavailableError(`${files.path} has no SEV-SNP VCEK or VLEK certificate`);
  }
  return leaves.map((leaf) => {
    const product = /^SEV-(?:VLEK-)?([A-Za-z]+)$/.exec(leaf.issuerCn)?.[1];
    const chain = files.certs.filter((c) => c.cn === leaf.issuerCn || (product !== undefined && c.cn === `ARK-${product}`));
    const seen = new Set<string>();
    const unique = chain.filter((c) => {
      const k = toHex(c.cert.der);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    return { [leaf.cn === 'SEV-VCEK' ? 'vcek' : 'vlek']: leaf.cert.der, certChain: unique.map((c) => c.cert.der), file: leaf.file };
  });
}

function jwksFrom(files: CollateralFiles | undefined, policy: Policy | undefined): Jwks | undefined {
  return files?.jwks[0]?.value ?? (policy?.gpu.nras?.jwks as Jwks | undefined);
}

// ---------------------------------------------------------------- verdict helpers

function bitSet(field: Uint8Array, n: number): boolean {
  return ((field[n >> 3]! >> (n & 7)) & 1) === 1;
}

/** DEBUG: TD_ATTRIBUTES bit 0 (TDX), ATTRIBUTES bit 1 (SGX). */
function dcapDebug(q: DcapQuote): boolean {
  return q.body.tee === 'tdx' ? bitSet(q.body.report.tdAttributes, 0) : bitSet(q.body.report.attributes, 1);
}

function checkReportDataNonce(reportData: Uint8Array, nonceHex: string | undefined, notes: string[]): void {
  if (nonceHex === undefined) {
    notes.push('report data not checked (no --nonce; a raw quote carries no binding)');
    return;
  }
  const n = fromHex(nonceHex);
  const want = new Uint8Array(64);
  want.set(n);
  if (!equalBytes(reportData, want)) {
    throw new ReportDataMismatchError(`report data ${toHex(reportData)} is not the nonce ${nonceHex} zero-padded to 64 bytes`);
  }
}

function dcapDetails(sig: DcapSignatureResult): Record<string, unknown> {
  const q = sig.quote;
  const d: Record<string, unknown> = {
    quoteVersion: q.header.version,
    tee: q.body.tee,
    bodyType: q.body.type,
    fmspc: sig.fmspc,
    pceId: sig.pceId,
    debug: dcapDebug(q),
  };
  if (q.body.tee === 'tdx') {
    d.teeTcbSvn = toHex(q.body.report.teeTcbSvn);
    d.tdAttributes = toHex(q.body.report.tdAttributes);
    d.xfam = toHex(q.body.report.xfam);
  } else {
    d.attributes = toHex(q.body.report.attributes);
    d.isvProdId = q.body.report.isvProdId;
    d.isvSvn = q.body.report.isvSvn;
  }
  return d;
}

/** No-policy acceptance of TEE claims: status exactly UpToDate, not debuggable. */
function noPolicyGate(v: VerdictOut): void {
  if (v.details?.debug === true) throw new DebugEnabledError(`${v.kind} evidence is from a debuggable TEE`);
  if (v.tcbStatus !== 'UpToDate') {
    const adv = v.advisoryIds.length ? ` (${v.advisoryIds.join(', ')})` : '';
    throw new TcbStatusRejectedError(`TCB status is ${v.tcbStatus}${adv}; without --policy only UpToDate is accepted`);
  }
}

async function verifyDcap(
  bytes: Uint8Array,
  files: CollateralFiles | undefined,
  policy: Policy | undefined,
  now: number,
  nonce: string | undefined,
  notes: string[],
): Promise<VerdictOut> {
  const quote = parseDcapQuote(bytes);
  const kind = quote.body.tee;
  if (policy && kind === 'sgx') {
    throw new KindNotAllowedError('sealgate policies have no SGX section; check SGX quotes without --policy');
  }
  if (!files) {
    const sig = await verifyDcapQuoteWithoutCollateral(bytes, { now });
    const v: VerdictOut = {
      kind,
      measurements: sig.measurements,
      reportData: toHex(sig.reportData),
      tcbStatus: 'Unknown',
      advisoryIds: [],
      validFrom: sig.validFrom,
      expiresAt: sig.expiresAt,
      evaluatedAt: now,
      details: dcapDetails(sig),
    };
    throw new Rejection(
      new CollateralUnavailableError(
        'quote and QE report signatures and the PCK chain verify, but without --collateral no CRL, TCB status or QE identity was checked',
      ),
      v,
    );
  }
  const coll = normalizeCollateral(intelCollateralFor(bytes, files, now, notes) as IntelCollateral);
  const opts = policy ? { now, maxCollateralAgeSeconds: policy.maxCollateralAgeSeconds } : { now };
  const claims = await verifyParsedDcapQuote(quote, coll, opts);
  const details = dcapDetails(claims);
  details.platformStatus = claims.platform.status;
  details.qeStatus = claims.qe.status;
  if (claims.tdxModule) details.tdxModuleStatus = claims.tdxModule.status;
  details.tcbEvaluationDataNumber = claims.tcbEvaluationDataNumber;
  details.tcbDate = claims.platform.tcbDate;
  const v: VerdictOut = {
    kind,
    measurements: claims.measurements,
    reportData: toHex(claims.reportData),
    tcbStatus: claims.status,
    advisoryIds: claims.advisoryIds,
    validFrom: claims.validFrom,
    expiresAt: policy ? Math.min(claims.expiresAt, now + policy.maxVerdictSeconds) : claims.expiresAt,
    evaluatedAt: now,
    details,
  };
  try {
    checkReportDataNonce(claims.reportData, nonce, notes);
    if (policy) validateTdxClaims(claims, policy);
    else noPolicyGate(v);
  } catch (e) {
    if (e instanceof AttestationError) throw new Rejection(e, v);
    throw e;
  }
  return v;
}

function snpVerdict(r: SnpVerifyResult, now: number, policy: Policy | undefined): VerdictOut {
  const details: Record<string, unknown> = { ...r.verdict.details, debug: (r.report.policy & SnpGuestPolicyBits.DEBUG) !== 0n };
  return {
    kind: 'sev-snp',
    measurements: r.verdict.measurements,
    reportData: toHex(r.verdict.reportData),
    tcbStatus: r.verdict.tcbStatus,
    advisoryIds: r.verdict.advisoryIds,
    validFrom: Math.max(r.chain.leaf.notBefore, r.chain.intermediate.notBefore, r.chain.ark.notBefore),
    expiresAt: policy ? Math.min(r.verdict.expiresAt, now + policy.maxVerdictSeconds) : r.verdict.expiresAt,
    evaluatedAt: now,
    details,
  };
}

/** Verifies an SNP report against each candidate collateral; the first that verifies wins. */
async function verifySnpWithCandidates(
  bytes: Uint8Array,
  candidates: unknown[],
  now: number,
  notes: string[] = [],
): Promise<SnpVerifyResult> {
  const errors: AttestationError[] = [];
  for (const c of candidates) {
    try {
      const r = await verifySnpReport(bytes, stripFile(c), { now });
      if (isRecord(c) && typeof c.file === 'string') notes.push(`collateral: ${c.file}`);
      return r;
    } catch (e) {
      if (!(e instanceof AttestationError)) throw e;
      errors.push(e);
    }
  }
  // A certificate for another chip or TCB is the least informative failure.
  throw errors.find((e) => e.code !== 'SNP_KEY_MISMATCH') ?? errors[0]!;
}

async function verifySnp(
  bytes: Uint8Array,
  files: CollateralFiles | undefined,
  policy: Policy | undefined,
  now: number,
  nonce: string | undefined,
  notes: string[],
): Promise<VerdictOut> {
  if (policy && !policy.sevSnp) throw new KindNotAllowedError('policy has no sevSnp section');
  if (!files) {
    // Parse first so malformed input says so; then fail closed (no network fetch of the VCEK).
    await verifySnpReport(bytes, undefined, { now });
  }
  const r = await verifySnpWithCandidates(bytes, snpCollateralsFor(files!), now, notes);
  const v = snpVerdict(r, now, policy);
  try {
    checkReportDataNonce(r.report.reportData, nonce, notes);
    if (policy) validateSnpReport(r.report, r.reportedTcb, r.product, policy);
    else noPolicyGate(v);
  } catch (e) {
    if (e instanceof AttestationError) throw new Rejection(e, v);
    throw e;
  }
  return v;
}

function stripFile(c: unknown): unknown {
  if (!isRecord(c) || !('file' in c)) return c;
  const { file: _f, ...rest } = c;
  return rest;
}

function nrasOwnNonce(value: unknown): string | undefined {
  try {
    const { overall } = parseNrasResponse(value);
    const n = decodeJwt(overall)['eat_nonce'];
    return typeof n === 'string' ? n.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

async function verifyNras(
  value: unknown,
  files: CollateralFiles | undefined,
  policy: Policy | undefined,
  now: number,
  nonceArg: string | undefined,
  notes: string[],
): Promise<VerdictOut> {
  parseNrasResponse(value); // shape errors first
  if (policy && !policy.gpu.nras) throw new KindNotAllowedError('policy has no gpu.nras section');
  const jwks = jwksFrom(files, policy);
  if (!jwks) throw new CollateralUnavailableError('NRAS tokens need the NRAS JWKS: pass it with --collateral (nothing is fetched)');
  let nonce = nonceArg;
  if (nonce === undefined) {
    nonce = nrasOwnNonce(value) ?? '';
    notes.push(`no --nonce: used the token's own eat_nonce ${nonce || '(none)'}; freshness is NOT established`);
  }
  const r = await verifyNrasToken(value, {
    jwks,
    nonce,
    now,
    ...(policy ? { maxAgeSeconds: policy.maxEvidenceAgeSeconds } : {}),
  });
  return {
    kind: 'nvidia-nras',
    measurements: {},
    tcbStatus: 'NotApplicable',
    advisoryIds: [],
    validFrom: r.issuedAt,
    expiresAt: policy ? Math.min(r.expiresAt, now + policy.maxVerdictSeconds) : r.expiresAt,
    evaluatedAt: now,
    details: {
      nonce: r.nonce,
      issuer: r.overall.iss,
      overallResult: r.overall['x-nvidia-overall-att-result'],
    },
    gpus: r.gpus.map((g) => ({
      name: g.name,
      ...(g.ueid ? { ueid: g.ueid } : {}),
      ...(g.hwmodel ? { hwmodel: g.hwmodel } : {}),
      ...(g.driverVersion ? { driverVersion: g.driverVersion } : {}),
      ...(g.vbiosVersion ? { vbiosVersion: g.vbiosVersion } : {}),
    })),
  };
}

/** The request nonce inside one GPU evidence entry (hex), or a dummy that will not match. */
function entryNonce(entry: unknown): string {
  try {
    if (!isRecord(entry)) return '00'.repeat(32);
    const ev = entry.evidence ?? entry.report ?? entry.attestationReport;
    if (typeof ev !== 'string') return '00'.repeat(32);
    const t = ev.trim();
    const bytes = /^(0x)?[0-9a-fA-F]+$/.test(t) && (entry.evidence === undefined || /^(0x)?11e0/i.test(t)) ? fromHex(t) : fromBase64(t);
    return toHex(parseSpdmReport(bytes).requestNonce);
  } catch {
    return '00'.repeat(32);
  }
}

function spdmGpuOut(g: SpdmGpuResult): Record<string, unknown> {
  return {
    leafSubject: g.leafSubject,
    ...(g.arch ? { arch: g.arch } : {}),
    ...(g.deviceId ? { deviceId: g.deviceId } : {}),
    ...(g.driverVersion ? { driverVersion: g.driverVersion } : {}),
    ...(g.vbiosVersion ? { vbiosVersion: g.vbiosVersion } : {}),
    ...(g.fwid ? { fwid: g.fwid } : {}),
    measurements: g.measurements,
  };
}

async function verifySpdm(
  d: Extract<Detected, { kind: 'nvidia-spdm' | 'spdm-raw' }>,
  files: CollateralFiles | undefined,
  policy: Policy | undefined,
  now: number,
  nonceArg: string | undefined,
  notes: string[],
): Promise<VerdictOut> {
  // One job per (evidence, nonce): GPUs without a given nonce are checked against their own.
  const jobs: Array<{ evidence: unknown; nonce: string }> = [];
  if (d.kind === 'spdm-raw') {
    const chain = files?.otherPemChains[0];
    if (!chain) throw new CollateralUnavailableError('a raw SPDM report needs its device certificate chain (PEM) as --collateral');
    notes.push(`collateral: ${chain.file}`);
    const nonce = nonceArg ?? toHex(parseSpdmReport(d.bytes).requestNonce);
    if (nonceArg === undefined) notes.push(`no --nonce: used the report's own request nonce ${nonce}; freshness is NOT established`);
    jobs.push({ evidence: { report: toHex(d.bytes), certChain: chain.pem }, nonce });
  } else if (nonceArg !== undefined || d.nonce !== undefined) {
    const nonce = nonceArg ?? d.nonce!;
    if (nonceArg === undefined) notes.push(`no --nonce: used the request body's nonce ${nonce}; freshness is NOT established`);
    jobs.push({ evidence: d.value, nonce });
  } else {
    notes.push("no --nonce: each GPU was checked against its report's own request nonce; freshness is NOT established");
    const list = Array.isArray(d.value) ? d.value : [d.value];
    for (const entry of list) jobs.push({ evidence: [entry], nonce: entryNonce(entry) });
  }
  const gpus: SpdmGpuResult[] = [];
  for (const j of jobs) gpus.push(...(await verifySpdmEvidence(j.evidence, { nonce: j.nonce, now })).gpus);
  notes.push('SPDM measurements were not compared with NVIDIA RIMs');
  const chainExpiry = Math.min(...gpus.map((g) => g.chainExpiresAt));
  const nonces = [...new Set(jobs.map((j) => j.nonce))];
  const v: VerdictOut = {
    kind: 'nvidia-spdm',
    measurements: {},
    tcbStatus: 'NotApplicable',
    advisoryIds: [],
    expiresAt: policy ? Math.min(chainExpiry, now + policy.maxVerdictSeconds) : chainExpiry,
    evaluatedAt: now,
    details: { nonce: nonces.length === 1 ? nonces[0] : nonces },
    gpus: gpus.map(spdmGpuOut),
  };
  if (policy) {
    try {
      // The gateway's own SPDM verifier decides: policy.gpu.spdm section and allowed measurements.
      for (const j of jobs) await nvidiaSpdmVerifier.verify(j.evidence, fromHex(j.nonce), { policy, now });
    } catch (e) {
      if (e instanceof AttestationError) throw new Rejection(e, v);
      throw e;
    }
  }
  return v;
}

// ---------------------------------------------------------------- bundles

function teeOut(t: TeeVerdict, now: number): VerdictOut {
  return {
    kind: t.kind,
    measurements: t.measurements,
    reportData: toHex(t.reportData),
    tcbStatus: t.tcbStatus,
    advisoryIds: t.advisoryIds,
    expiresAt: t.expiresAt,
    evaluatedAt: now,
    ...(t.details ? { details: t.details } : {}),
  };
}

function gpuOut(g: GpuVerdict): Record<string, unknown> {
  return { kind: g.kind, nonce: toHex(g.nonce), expiresAt: g.expiresAt, gpus: g.gpus };
}

function bundleOut(v: Verdict): VerdictOut {
  const t = teeOut(v.tee, v.evaluatedAt);
  return { ...t, expiresAt: v.expiresAt, gpus: v.gpus.map(gpuOut), binding: v.binding };
}

/** TEE verifiers for bundles without a policy: full crypto and collateral, claims kept for the no-policy gate. */
function noPolicyTeeVerifiers(files: CollateralFiles | undefined): TeeVerifier[] {
  const tdx: TeeVerifier = {
    kind: 'tdx',
    async verify(evidence, collateral, ctx) {
      const quote = parseDcapQuote(evidence);
      if (quote.body.tee !== 'tdx') throw new UnsupportedFormatError('an SGX quote is not TDX evidence');
      const coll = collateral ?? (files ? intelCollateralFor(evidence, files, ctx.now, []) : undefined);
      const claims = await verifyParsedDcapQuote(quote, normalizeCollateral(coll), { now: ctx.now });
      return {
        kind: 'tdx',
        reportData: claims.reportData,
        measurements: claims.measurements,
        tcbStatus: claims.status,
        advisoryIds: claims.advisoryIds,
        expiresAt: claims.expiresAt,
        details: { ...dcapDetails(claims), platformStatus: claims.platform.status, qeStatus: claims.qe.status },
      };
    },
  };
  const snp: TeeVerifier = {
    kind: 'sev-snp',
    async verify(evidence, collateral, ctx) {
      const candidates = collateral !== undefined ? [collateral] : files ? snpCollateralsFor(files) : [undefined];
      const r = await verifySnpWithCandidates(evidence, candidates, ctx.now);
      const v = snpVerdict(r, ctx.now, undefined);
      return { ...r.verdict, details: v.details ?? {} };
    },
  };
  return [simulatedVerifier, tdx, snp];
}

/** NRAS GPU verifier with an offline JWKS only (the CLI never fetches keys). */
function nrasGpuVerifier(jwks: Jwks | undefined, useCtxPolicy: boolean): GpuVerifier {
  return {
    kind: 'nvidia-nras',
    async verify(evidence, expectedNonce, ctx) {
      if (useCtxPolicy && !ctx.policy.gpu.nras) throw new KindNotAllowedError('policy has no gpu.nras section');
      if (!jwks) throw new CollateralUnavailableError('NRAS GPU evidence needs the NRAS JWKS: pass it with --collateral');
      const r = await verifyNrasToken(evidence, {
        jwks,
        nonce: expectedNonce,
        now: ctx.now,
        ...(useCtxPolicy ? { maxAgeSeconds: ctx.policy.maxEvidenceAgeSeconds } : {}),
      });
      return {
        kind: 'nvidia-nras',
        nonce: expectedNonce,
        gpus: r.gpus.map((g) => ({
          id: g.ueid ?? g.name,
          ...(g.hwmodel ? { model: g.hwmodel } : {}),
          measurements: {
            ...(g.driverVersion ? { driver_version: g.driverVersion } : {}),
            ...(g.vbiosVersion ? { vbios_version: g.vbiosVersion } : {}),
          },
        })),
        expiresAt: r.expiresAt,
      };
    },
  };
}

/** A policy that lets every kind through to its verifier; the no-policy gate decides afterwards. */
function permissivePolicy(): Policy {
  const zero48 = '00'.repeat(48);
  return parsePolicy({
    allowSimulated: false,
    tdx: { measurements: [{ mrtd: zero48 }] },
    sevSnp: { measurements: [{ measurement: zero48 }] },
    tcb: { acceptedStatuses: [...ALL_STATUSES] },
    maxCollateralAgeSeconds: 100 * 365 * 24 * 3600,
    maxEvidenceAgeSeconds: 100 * 365 * 24 * 3600,
    maxVerdictSeconds: 100 * 365 * 24 * 3600,
    gpu: { required: false, spdm: {} },
  });
}

async function verifyBundleEvidence(
  value: unknown,
  files: CollateralFiles | undefined,
  policy: Policy | undefined,
  now: number,
  nonceArg: string | undefined,
  notes: string[],
): Promise<VerdictOut> {
  const bundle = parseEvidenceBundle(value);
  let nonce = nonceArg;
  if (nonce === undefined) {
    nonce = bundle.binding.nonce;
    notes.push(`no --nonce: used the bundle's own nonce ${nonce}; freshness is NOT established`);
  }
  const issuedAt = bundle.binding.issuedAt;
  if (issuedAt !== undefined) {
    notes.push(
      `evidence issued at ${iso(issuedAt)} (${now - issuedAt}s before --at); ${policy ? `policy allows ${policy.maxEvidenceAgeSeconds}s` : 'no age limit without --policy'}`,
    );
  }
  const jwks = jwksFrom(files, policy);
  let verdict: Verdict;
  if (policy) {
    const withCollateral =
      bundle.tee.collateral === undefined && files && bundle.tee.kind === 'tdx'
        ? { ...bundle, tee: { ...bundle.tee, collateral: intelCollateralFor(fromBase64(bundle.tee.evidence), files, now, notes) } }
        : bundle.tee.collateral === undefined && files && bundle.tee.kind === 'sev-snp'
          ? { ...bundle, tee: { ...bundle.tee, collateral: stripFile(snpCollateralsFor(files)[0]) } }
          : bundle;
    // The gateway's own verifier; an NRAS JWKS from --collateral replaces fetching one.
    const effective =
      jwks && policy.gpu.nras && !policy.gpu.nras.jwks ? { ...policy, gpu: { ...policy.gpu, nras: { ...policy.gpu.nras, jwks } } } : policy;
    verdict = await verifyBundle(withCollateral, { policy: effective, now, expectedNonce: nonce });
    return bundleOut(verdict);
  }
  if (bundle.tee.kind === 'simulated') {
    throw new SimulatedNotAllowedError('simulated TEE evidence proves nothing; pass a --policy that sets allowSimulated to check it');
  }
  const verify = createBundleVerifier({ tee: noPolicyTeeVerifiers(files), gpu: [nrasGpuVerifier(jwks, false), nvidiaSpdmVerifier] });
  verdict = await verify(bundle, { policy: permissivePolicy(), now, expectedNonce: nonce });
  const v = bundleOut(verdict);
  try {
    noPolicyGate(v);
  } catch (e) {
    if (e instanceof AttestationError) throw new Rejection(e, v);
    throw e;
  }
  return v;
}

// ---------------------------------------------------------------- main

function kindOf(d: Detected): string {
  if (d.kind === 'dcap') {
    try {
      return parseDcapQuote(d.bytes).body.tee;
    } catch {
      return u32(d.bytes, 4) === 0x81 ? 'tdx' : 'dcap';
    }
  }
  return d.kind === 'spdm-raw' ? 'nvidia-spdm' : d.kind;
}

/** Verifies one evidence file; never throws for evidence problems (they become the outcome). */
export async function verifyEvidenceFile(opts: {
  evidence: Uint8Array;
  collateral?: CollateralFiles;
  policy?: Policy;
  now: number;
  nonce?: string;
  worker?: string;
}): Promise<VerifyOutcome> {
  const notes: string[] = [];
  const { policy, now, nonce, collateral: files } = opts;
  let kind = 'unknown';
  try {
    const d = detectEvidence(opts.evidence, opts.worker);
    kind = kindOf(d);
    let verdict: VerdictOut;
    switch (d.kind) {
      case 'dcap':
        verdict = await verifyDcap(d.bytes, files, policy, now, nonce, notes);
        break;
      case 'sev-snp':
        verdict = await verifySnp(d.bytes, files, policy, now, nonce, notes);
        break;
      case 'simulated': {
        if (!policy) {
          throw new SimulatedNotAllowedError('simulated TEE evidence proves nothing; pass a --policy that sets allowSimulated to check it');
        }
        const t = await simulatedVerifier.verify(d.bytes, undefined, { policy, now });
        checkReportDataNonce(t.reportData, nonce, notes);
        verdict = { ...teeOut(t, now), expiresAt: Math.min(t.expiresAt, now + policy.maxVerdictSeconds) };
        break;
      }
      case 'nvidia-nras':
        verdict = await verifyNras(d.value, files, policy, now, nonce, notes);
        break;
      case 'nvidia-spdm':
      case 'spdm-raw':
        verdict = await verifySpdm(d, files, policy, now, nonce, notes);
        break;
      case 'bundle':
        verdict = await verifyBundleEvidence(d.value, files, policy, now, nonce, notes);
        break;
    }
    if (verdict.kind === 'simulated') notes.push(SIMULATED_NOTE);
    if (!policy) notes.push(NO_POLICY_NOTE);
    return { accepted: true, kind, policyApplied: policy !== undefined, notes, verdict };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (!policy) notes.push(NO_POLICY_NOTE);
    if (e instanceof Rejection) {
      return { accepted: false, kind, code: e.error.code, reason: e.error.message, policyApplied: policy !== undefined, notes, verdict: e.verdict };
    }
    if (e instanceof AttestationError) {
      return { accepted: false, kind, code: e.code, reason: e.message, policyApplied: policy !== undefined, notes };
    }
    // Anything untyped is a verifier bug; still a rejection (fail closed), never a crash.
    return {
      accepted: false,
      kind,
      code: 'INTERNAL_ERROR',
      reason: `verification failed unexpectedly: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      policyApplied: policy !== undefined,
      notes,
    };
  }
}


/** One line per GPU for humans; --json has everything. */
function gpuLine(g: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const k of ['name', 'kind', 'leafSubject', 'hwmodel', 'model', 'arch', 'id', 'deviceId', 'ueid', 'driverVersion', 'vbiosVersion']) {
    if (typeof g[k] === 'string') parts.push(k === 'name' || k === 'leafSubject' || k === 'kind' ? String(g[k]) : `${k} ${String(g[k])}`);
  }
  const m = g.measurements;
  if (isRecord(m)) {
    const vals = Object.values(m).map(String);
    parts.push(`${vals.length} measurements (${vals.filter((x) => /[1-9a-f]/i.test(x)).length} non-zero)`);
  }
  if (Array.isArray(g.gpus)) parts.push(`${g.gpus.length} GPU(s)`);
  return parts.join(', ');
}

/** Short human rendering of an outcome. */
export function formatOutcome(o: VerifyOutcome): string {
  const lines: string[] = [];
  const scope = o.policyApplied ? 'policy applied' : 'NO POLICY APPLIED';
  lines.push(o.accepted ? `ACCEPTED  ${o.kind}  (${scope})` : `REJECTED  ${o.kind}  [${o.code}] ${o.reason}`);
  const v = o.verdict;
  const row = (k: string, val: string) => lines.push(`  ${k.padEnd(15)} ${val}`);
  if (v) {
    const d = v.details ?? {};
    const parts = [
      ['platform', d.platformStatus],
      ['QE', d.qeStatus],
      ['TDX module', d.tdxModuleStatus],
    ].filter(([, x]) => x !== undefined);
    row('tcb status', v.tcbStatus + (parts.length ? `  (${parts.map(([k, x]) => `${k} ${String(x)}`).join(', ')})` : ''));
    if (v.advisoryIds.length) row('advisories', v.advisoryIds.join(', '));
    for (const [k, val] of Object.entries(v.measurements)) row(k, val);
    if (v.reportData) row('report data', v.reportData);
    const facts = ['fmspc', 'product', 'signingKey', 'debug'].filter((k) => d[k] !== undefined).map((k) => `${k} ${String(d[k])}`);
    if (facts.length) row('facts', facts.join(', '));
    for (const [i, g] of (v.gpus ?? []).entries()) row(`gpu ${i}`, gpuLine(g));
    if (v.validFrom !== undefined) row('valid', `${iso(v.validFrom)} .. ${iso(v.expiresAt)}`);
    else row('expires', iso(v.expiresAt));
    row('evaluated at', `${iso(v.evaluatedAt)} (${v.evaluatedAt})`);
  }
  for (const n of o.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

function readPolicy(path: string): Policy {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read policy ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return parsePolicy(json);
  } catch (e) {
    if (e instanceof PolicyInvalidError) throw new UsageError(`[${e.code}] ${e.message}`);
    throw e;
  }
}

/**
 * Runs `sealgate verify`; returns the exit code (0 accepted, 1 rejected, 2 usage).
 *
 * @example
 * process.exitCode = await runVerify(['quote.bin', '--collateral', 'coll.json', '--at', '1752919234']);
 */
export async function runVerify(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(VERIFY_HELP);
    return 0;
  }
  try {
    const { values, positionals } = parse(
      argv,
      {
        collateral: { type: 'string', multiple: true },
        policy: { type: 'string' },
        nonce: { type: 'string' },
        at: { type: 'string' },
        worker: { type: 'string' },
        json: { type: 'boolean' },
      },
      true,
    );
    if (positionals.length !== 1) throw new UsageError('expected exactly one <evidence-file>');
    const file = positionals[0]!;
    let nonce: string | undefined;
    if (values.nonce !== undefined) {
      const h = values.nonce.trim().replace(/^0x/i, '').toLowerCase();
      if (!/^([0-9a-f]{2}){1,64}$/.test(h)) throw new UsageError('--nonce must be 1 to 64 bytes of hex');
      nonce = h;
    }
    let now = Math.floor(Date.now() / 1000);
    if (values.at !== undefined) {
      if (!/^\d{1,12}$/.test(values.at.trim())) throw new UsageError('--at must be unix seconds (a non-negative integer)');
      now = Number(values.at.trim());
    }
    const policy = values.policy !== undefined ? readPolicy(values.policy) : undefined;
    let evidence: Uint8Array;
    try {
      evidence = new Uint8Array(readFileSync(file));
    } catch (e) {
      throw new UsageError(`cannot read evidence ${file}: ${(e as Error).message}`);
    }
    const collateral = values.collateral?.length ? readCollateral(values.collateral) : undefined;
    const outcome = await verifyEvidenceFile({
      evidence,
      now,
      ...(collateral ? { collateral } : {}),
      ...(policy ? { policy } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
      ...(values.worker !== undefined ? { worker: values.worker } : {}),
    });
    console.log(json ? JSON.stringify(outcome, null, 2) : formatOutcome(outcome));
    return outcome.accepted ? 0 : 1;
  } catch (e) {
    if (e instanceof UsageError) {
      if (json) console.log(JSON.stringify({ accepted: false, kind: 'unknown', code: 'USAGE_ERROR', reason: e.message }));
      console.error(`error: ${e.message}\n\n${VERIFY_HELP}`);
      return 2;
    }
    const msg = e instanceof Error ? e.message : String(e);
    if (json) console.log(JSON.stringify({ accepted: false, kind: 'unknown', code: 'INTERNAL_ERROR', reason: msg }));
    console.error(`error: ${msg}`);
    return 1;
  }
}
