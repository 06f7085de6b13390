/**
 * DCAP *verify* step: quote signature by the attestation key, QE report
 * signature by the PCK key, QE report-data binding, PCK chain to the pinned
 * Intel SGX Root CA, PCK and Root CA CRLs, TCB Info and QE Identity
 * signatures by the TCB Signing chain, every validity window at `now`, and
 * TCB-level matching with Intel's status convergence.
 *
 * Expensive, input-determined work (parsing and signature checks of chains,
 * CRLs and collateral) is cached by the SHA-256 of its bytes, so a warm
 * verification does the two quote-specific ECDSA checks, the time checks and
 * the TCB matching only.
 */
import {
  CertChainInvalidError,
  CollateralExpiredError,
  CollateralInvalidError,
  CollateralNotYetValidError,
  PckChainInvalidError,
  QeReportDataMismatchError,
  QeReportSignatureInvalidError,
  QuoteSignatureInvalidError,
  TcbStatusRejectedError,
} from '../errors.ts';
import { concatBytes, digest, equalBytes, toHex, utf8 } from '../util/bytes.ts';
import {
  assertNotRevoked,
  certificateKey,
  checkChainTime,
  checkCrlTime,
  importP256RawKey,
  parseCertificate,
  parseCrl,
  pemToDerList,
  verifyChainSignatures,
  verifyCrlSignature,
  verifyP256Raw,
  type Certificate,
  type Crl,
  type VerifiedChain,
} from '../x509/index.ts';
import { parseDcapQuote, type DcapQuote } from './abi.ts';
import { normalizeCollateral, type IntelCollateral } from './collateral.ts';
import { intelSgxRootCa } from './root.ts';
import {
  convergeStatus,
  matchPlatformLevel,
  matchQeIdentity,
  matchTdxModule,
  parsePckExtensions,
  parseQeIdentity,
  parseTcbInfo,
  type IntelTcbStatus,
  type PckExtensions,
  type QeIdentity,
  type StatusResult,
  type TcbInfo,
} from './tcb.ts';

/** A small insertion-ordered cache of promises, evicting the oldest entry. */
class PromiseCache<T> {
  private readonly map = new Map<string, Promise<T>>();
  constructor(private readonly max: number) {}
  get(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.map.get(key);
    if (!p) {
      p = make();
      this.map.set(key, p);
      if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
      p.catch(() => this.map.delete(key));
    }
    return p;
  }
  clear(): void {
    this.map.clear();
  }
}

/** The PCK chain of a quote after its signatures checked out (cached by chain bytes). */
export interface VerifiedPckChain {
  chain: VerifiedChain;
  leaf: Certificate;
  /** The PCK Platform/Processor CA that issued the leaf. */
  issuer: Certificate;
  leafKey: CryptoKey;
  pck: PckExtensions;
  /** SHA-256 of the PEM chain bytes, hex (cache key). */
  id: string;
}

/** Collateral after its signatures and chains checked out (cached by collateral bytes). */
export interface VerifiedCollateral {
  tcbInfo: TcbInfo;
  qeIdentity: QeIdentity;
  tcbChain: VerifiedChain;
  qeChain: VerifiedChain;
  pckCrl: Crl;
  pckCrlChain?: VerifiedChain;
  rootCrl: Crl;
  /** SHA-256 of the collateral, hex (cache key). */
  id: string;
}

const pckCache = new PromiseCache<VerifiedPckChain>(256);
const collateralCache = new PromiseCache<VerifiedCollateral>(64);
const pckCrlCheckCache = new PromiseCache<void>(256);

/** Drops every cached chain and collateral verification (tests, key rotation drills). */
export function clearDcapCaches(): void {
  pckCache.clear();
  collateralCache.clear();
  pckCrlCheckCache.clear();
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  return toHex(await digest('SHA-256', data));
}

function pckInvalid(message: string, cause?: unknown) {
  return new PckChainInvalidError(message, { cause });
}

/** Parses and verifies (signatures only, no time) the PCK chain carried in a quote. Cached. */
export async function verifyPckChain(pem: Uint8Array): Promise<VerifiedPckChain> {
  const key = await sha256Hex(pem);
  return pckCache.get(key, async () => {
    let certs: Certificate[];
    try {
      certs = pemToDerList(new TextDecoder('utf-8', { fatal: true }).decode(pem), 'CERTIFICATE', true).map(parseCertificate);
    } catch (e) {
      throw pckInvalid(`PCK cert chain invalid: ${(e as Error).message}`, e);
    }
    if (certs.length < 2) throw pckInvalid('PCK cert chain must carry the PCK cert and its CA');
    const chain = await verifyChainSignatures(certs, [intelSgxRootCa()], pckInvalid);
    const leaf = chain.path[0]!;
    const issuer = chain.path[1]!;
    if (chain.path.length !== 3 || leaf.subjectCommonName !== PCK_LEAF || !PCK_CAS.includes(issuer.subjectCommonName ?? '')) {
      throw pckInvalid(`PCK cert chain must be ${PCK_LEAF} <- PCK Platform/Processor CA <- Intel SGX Root CA`);
    }
    if (leaf.isCa) throw pckInvalid('PCK leaf is a CA certificate');
    const pck = parsePckExtensions(leaf);
    const leafKey = await certificateKey(leaf, { kind: 'ecdsa', hash: 'SHA-256' });
    if (!leafKey || leaf.keyCurve !== '1.2.840.10045.3.1.7') throw pckInvalid('PCK leaf key is not ECDSA P-256');
    return { chain, leaf, issuer, leafKey, pck, id: key };
  });
}

function collateralId(c: IntelCollateral): Promise<string> {
  const parts: Uint8Array[] = [];
  const add = (b: Uint8Array) => {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, b.length);
    parts.push(len, b);
  };
  add(utf8(c.tcbInfoJson));
  add(c.tcbInfoSignature);
  add(utf8(c.qeIdentityJson));
  add(c.qeIdentitySignature);
  add(c.pckCrl);
  add(c.rootCaCrl);
  for (const chain of [c.tcbInfoIssuerChain, c.qeIdentityIssuerChain, c.pckCrlIssuerChain]) {
    add(new Uint8Array([chain.length]));
    chain.forEach(add);
  }
  return sha256Hex(concatBytes(...parts));
}

/** Common names of the certificates allowed to sign TCB Info / QE Identity, and to issue PCK certs and PCK CRLs. */
const TCB_SIGNERS = ['Intel SGX TCB Signing'];
const PCK_CAS = ['Intel SGX PCK Platform CA', 'Intel SGX PCK Processor CA'];
const PCK_LEAF = 'Intel SGX PCK Certificate';

async function verifySigningChain(ders: Uint8Array[], what: string, allowedSigners: string[] = TCB_SIGNERS): Promise<VerifiedChain> {
  let certs: Certificate[];
  try {
    certs = ders.map(parseCertificate);
  } catch (e) {
    throw new CertChainInvalidError(`${what} issuer chain does not parse`, { cause: e });
  }
  const v = await verifyChainSignatures(certs, [intelSgxRootCa()], (m, cause) => new CertChainInvalidError(`${what} issuer chain: ${m}`, { cause }));
  if (v.path.length !== 2 || !allowedSigners.includes(v.path[0]!.subjectCommonName ?? '')) {
    throw new CertChainInvalidError(`${what} must be signed by ${allowedSigners.join(' or ')} directly under the root`);
  }
  return v;
}

async function verifySignedJson(json: string, signature: Uint8Array, signer: Certificate, what: string): Promise<void> {
  const key = await certificateKey(signer, { kind: 'ecdsa', hash: 'SHA-256' });
  if (!key || !(await verifyP256Raw(key, signature, utf8(json)))) {
    throw new CollateralInvalidError(`${what} signature does not verify with ${signer.subject}`);
  }
}

function parseCrlAs(der: Uint8Array, what: string): Crl {
  try {
    return parseCrl(der);
  } catch (e) {
    throw new CollateralInvalidError(`${what} does not parse`, { cause: e });
  }
}

/** Verifies collateral signatures and chains (no time checks). Cached by the collateral's bytes. */
export async function verifyIntelCollateral(c: IntelCollateral): Promise<VerifiedCollateral> {
  const id = await collateralId(c);
  return collateralCache.get(id, async () => {
    const root = intelSgxRootCa();
    const tcbChain = await verifySigningChain(c.tcbInfoIssuerChain, 'TCB Info');
    await verifySignedJson(c.tcbInfoJson, c.tcbInfoSignature, tcbChain.path[0]!, 'TCB Info');
    const tcbInfo = parseTcbInfo(c.tcbInfoJson);
    const qeChain = await verifySigningChain(c.qeIdentityIssuerChain, 'QE Identity');
    await verifySignedJson(c.qeIdentityJson, c.qeIdentitySignature, qeChain.path[0]!, 'QE Identity');
    const qeIdentity = parseQeIdentity(c.qeIdentityJson);
    const rootCrl = parseCrlAs(c.rootCaCrl, 'Root CA CRL');
    await verifyCrlSignature(rootCrl, root);
    const pckCrl = parseCrlAs(c.pckCrl, 'PCK CRL');
    let pckCrlChain: VerifiedChain | undefined;
    if (c.pckCrlIssuerChain.length > 0) {
      pckCrlChain = await verifySigningChain(c.pckCrlIssuerChain, 'PCK CRL', PCK_CAS);
      await verifyCrlSignature(pckCrl, pckCrlChain.path[0]!);
    }
    return { tcbInfo, qeIdentity, tcbChain, qeChain, pckCrl, ...(pckCrlChain ? { pckCrlChain } : {}), rootCrl, id };
  });
}

/** Checks the quote's own signatures and bindings given its verified PCK chain. */
async function verifyQuoteSignatures(q: DcapQuote, pck: VerifiedPckChain): Promise<void> {
  if (!(await verifyP256Raw(pck.leafKey, q.qeReportSignature, q.qeReport.raw))) {
    throw new QeReportSignatureInvalidError('QE report signature does not verify with the PCK key');
  }
  const expected = await digest('SHA-256', concatBytes(q.attestationKey, q.qeAuthData));
  const rd = q.qeReport.reportData;
  if (!equalBytes(rd.subarray(0, 32), expected) || rd.subarray(32).some((b) => b !== 0)) {
    throw new QeReportDataMismatchError('QE report data is not SHA-256(attestation key || QE auth data)');
  }
  const key = await importP256RawKey(q.attestationKey);
  if (!key || !(await verifyP256Raw(key, q.signature, q.signedData))) {
    throw new QuoteSignatureInvalidError("unable to verify the quote's signature with its ECDSA attestation key");
  }
}

/** Measurement registers of a quote, lowercase hex by lowercase name. */
export function quoteMeasurements(q: DcapQuote): Record<string, string> {
  if (q.body.tee === 'sgx') {
    const r = q.body.report;
    return { mrenclave: toHex(r.mrEnclave), mrsigner: toHex(r.mrSigner) };
  }
  const r = q.body.report;
  const m: Record<string, string> = {
    mrtd: toHex(r.mrTd),
    rtmr0: toHex(r.rtmrs[0]),
    rtmr1: toHex(r.rtmrs[1]),
    rtmr2: toHex(r.rtmrs[2]),
    rtmr3: toHex(r.rtmrs[3]),
    mrseam: toHex(r.mrSeam),
    mrsignerseam: toHex(r.mrSignerSeam),
    mrconfigid: toHex(r.mrConfigId),
    mrowner: toHex(r.mrOwner),
    mrownerconfig: toHex(r.mrOwnerConfig),
  };
  if (r.mrServiceTd) m.mrservicetd = toHex(r.mrServiceTd);
  return m;
}

/** Options of {@link verifyDcapQuote}. */
export interface DcapVerifyOptions {
  /** Evaluation time, unix seconds. */
  now: number;
  /** Maximum collateral age since its issueDate, seconds (policy.maxCollateralAgeSeconds). */
  maxCollateralAgeSeconds?: number;
}

/** Result of the signature-and-chain-only check (no collateral). */
export interface DcapSignatureResult {
  quote: DcapQuote;
  tee: 'sgx' | 'tdx';
  fmspc: string;
  pceId: string;
  pck: PckExtensions;
  pckChain: readonly Certificate[];
  measurements: Record<string, string>;
  reportData: Uint8Array;
  /** Intersection of the PCK chain's validity windows. */
  validFrom: number;
  expiresAt: number;
}

/** Verified claims of an Intel DCAP quote with collateral. */
export interface DcapVerifiedClaims extends DcapSignatureResult {
  /** Converged TCB status (platform, QE and TDX module). Never `Revoked` (that throws). */
  status: Exclude<IntelTcbStatus, 'Revoked'>;
  advisoryIds: string[];
  platform: StatusResult & { tcbDate: string };
  qe: StatusResult;
  /** TDX module status, when the TCB Info has module identities and the module major version is non-zero. */
  tdxModule?: StatusResult;
  tcbEvaluationDataNumber: number;
  /** Latest start of every certificate, CRL and collateral validity window. */
  validFrom: number;
  /** Earliest end of every window (nextUpdate, notAfter, issueDate + max age). */
  expiresAt: number;
}

/**
 * Verifies a quote's signatures and PCK chain only, at `now`, without any
 * collateral (no CRLs, no TCB status). For auditors reproducing
 * "signature and chain pass" results; never use it for admission.
 */
export async function verifyDcapQuoteWithoutCollateral(bytes: Uint8Array, options: { now: number }): Promise<DcapSignatureResult> {
  const quote = parseDcapQuote(bytes);
  const pck = await verifyPckChain(quote.pckChainPem);
  checkChainTime(pck.chain.path, options.now);
  await verifyQuoteSignatures(quote, pck);
  return signatureResult(quote, pck);
}

function signatureResult(quote: DcapQuote, pck: VerifiedPckChain): DcapSignatureResult {
  return {
    quote,
    tee: quote.body.tee,
    fmspc: pck.pck.fmspc,
    pceId: pck.pck.pceId,
    pck: pck.pck,
    pckChain: pck.chain.path,
    measurements: quoteMeasurements(quote),
    reportData: quote.body.report.reportData,
    validFrom: pck.chain.notBefore,
    expiresAt: pck.chain.notAfter,
  };
}

function checkJsonTime(what: string, issueDate: number, nextUpdate: number, now: number, maxAge?: number): void {
  if (!(now >= issueDate)) throw new CollateralNotYetValidError(`${what} is issued in the future (${new Date(issueDate * 1000).toISOString()})`);
  if (!(now <= nextUpdate)) throw new CollateralExpiredError(`${what} is past its nextUpdate ${new Date(nextUpdate * 1000).toISOString()}`);
  if (maxAge !== undefined && !(now - issueDate <= maxAge)) {
    throw new CollateralExpiredError(`${what} is older than ${maxAge}s (issued ${new Date(issueDate * 1000).toISOString()})`);
  }
}

/**
 * Full Intel DCAP verification of an SGX or TDX quote at `options.now`:
 * signatures, PCK chain, CRLs, collateral, validity windows and TCB status.
 * No policy is applied (see `validate.ts`) except that a `Revoked` TCB always
 * throws `TcbStatusRejectedError`.
 *
 * @param collateral `IntelCollateral` or dcap-qvl `QuoteCollateralV3` JSON; absent => `CollateralUnavailableError`.
 * @example
 * const claims = await verifyDcapQuote(quote, collateralJson, { now: 1752919234 });
 * claims.status // 'UpToDate'
 */
export async function verifyDcapQuote(bytes: Uint8Array, collateral: unknown, options: DcapVerifyOptions): Promise<DcapVerifiedClaims> {
  const quote = parseDcapQuote(bytes);
  return verifyParsedDcapQuote(quote, normalizeCollateral(collateral), options);
}

/** {@link verifyDcapQuote} for an already parsed quote and normalized collateral. */
export async function verifyParsedDcapQuote(
  quote: DcapQuote,
  coll: IntelCollateral,
  options: DcapVerifyOptions,
): Promise<DcapVerifiedClaims> {
  const { now } = options;
  const [pck, col] = await Promise.all([verifyPckChain(quote.pckChainPem), verifyIntelCollateral(coll)]);

  // Revocation and CRL provenance (signatures cached per CRL/issuer pair).
  const leaf = pck.leaf;
  if (!equalBytes(col.pckCrl.issuerDer, leaf.issuerDer)) {
    throw new CollateralInvalidError(`PCK CRL is issued by ${col.pckCrl.issuer}, but the PCK cert by ${leaf.issuer}`);
  }
  await pckCrlCheckCache.get(`${col.id}:${pck.id}`, () => verifyCrlSignature(col.pckCrl, pck.issuer));

  // Validity windows at `now`.
  const maxAge = options.maxCollateralAgeSeconds;
  checkChainTime(pck.chain.path, now);
  checkChainTime(col.tcbChain.path, now);
  checkChainTime(col.qeChain.path, now);
  if (col.pckCrlChain) checkChainTime(col.pckCrlChain.path, now);
  checkCrlTime(col.rootCrl, now);
  checkCrlTime(col.pckCrl, now);
  checkJsonTime('TCB Info', col.tcbInfo.issueDate, col.tcbInfo.nextUpdate, now, maxAge);
  checkJsonTime('QE Identity', col.qeIdentity.issueDate, col.qeIdentity.nextUpdate, now, maxAge);

  // Revocation: PCK leaf by the PCK CRL; every intermediate by the Root CA CRL.
  assertNotRevoked(leaf, col.pckCrl);
  for (const c of [...pck.chain.path.slice(1), ...col.tcbChain.path, ...col.qeChain.path, ...(col.pckCrlChain?.path ?? [])]) {
    assertNotRevoked(c, col.rootCrl);
  }

  await verifyQuoteSignatures(quote, pck);

  // Collateral must describe this platform and this kind of quote.
  const tee = quote.body.tee;
  const ti = col.tcbInfo;
  if ((tee === 'tdx') !== (ti.id === 'TDX')) throw new CollateralInvalidError(`TCB Info id ${ti.id} does not fit a ${tee.toUpperCase()} quote`);
  if (ti.fmspc !== pck.pck.fmspc) throw new CollateralInvalidError(`TCB Info is for FMSPC ${ti.fmspc}, the PCK cert says ${pck.pck.fmspc}`);
  if (ti.pceId !== pck.pck.pceId) throw new CollateralInvalidError(`TCB Info is for PCE-ID ${ti.pceId}, the PCK cert says ${pck.pck.pceId}`);
  const qi = col.qeIdentity;
  if (qi.id !== (tee === 'tdx' ? 'TD_QE' : 'QE')) throw new CollateralInvalidError(`QE Identity id ${qi.id} does not fit a ${tee.toUpperCase()} quote`);

  // TCB levels.
  const level = matchPlatformLevel(ti, pck.pck, tee === 'tdx' ? quote.body.report.teeTcbSvn as Uint8Array : undefined);
  const tdxModule = quote.body.tee === 'tdx' ? matchTdxModule(ti, quote.body.report) : undefined;
  const qe = matchQeIdentity(qi, quote.qeReport);
  const platform = { status: level.status, advisoryIds: level.advisoryIds, tcbDate: level.tcbDate };
  const merged = convergeStatus(convergeStatus(platform, tdxModule), qe);
  if (merged.status === 'Revoked') throw new TcbStatusRejectedError('TCB status is Revoked');

  const sig = signatureResult(quote, pck);
  const windows = [pck.chain, col.tcbChain, col.qeChain, ...(col.pckCrlChain ? [col.pckCrlChain] : [])];
  const validFrom = Math.max(
    ...windows.map((w) => w.notBefore),
    col.rootCrl.thisUpdate,
    col.pckCrl.thisUpdate,
    ti.issueDate,
    qi.issueDate,
  );
  const expiresAt = Math.min(
    ...windows.map((w) => w.notAfter),
    col.rootCrl.nextUpdate!,
    col.pckCrl.nextUpdate!,
    ti.nextUpdate,
    qi.nextUpdate,
    ...(maxAge !== undefined ? [ti.issueDate + maxAge, qi.issueDate + maxAge] : []),
  );
  return {
    ...sig,
    status: merged.status,
    advisoryIds: [...merged.advisoryIds].sort(),
    platform,
    qe,
    ...(tdxModule ? { tdxModule } : {}),
    tcbEvaluationDataNumber: Math.min(ti.tcbEvaluationDataNumber, qi.tcbEvaluationDataNumber),
    validFrom,
    expiresAt,
  };
}
