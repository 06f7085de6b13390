import {
  AttestationError,
  CertChainInvalidError,
  CollateralInvalidError,
  CollateralUnavailableError,
  PolicyInvalidError,
  QuoteSignatureInvalidError,
  UnsupportedFormatError,
} from '../errors.ts';
import type { Policy } from '../policy.ts';
import type { TeeVerdict } from '../types.ts';
import { equalBytes, fromBase64, toHex } from '../util/bytes.ts';
import {
  checkCertTime,
  ecCurveOf,
  hasSignatureAlgorithm,
  rsaPssAlgorithmIdentifiers,
  verifyEcdsaRaw,
  verifyIssuedBy,
} from '../x509/index.ts';
import {
  decodeTcb,
  encodeTcb,
  parseSnpReport,
  productFromCpuid,
  SNP_PRODUCTS,
  SNP_SIG_ALGO_ECDSA_P384_SHA384,
  signingKeyOf,
  type SnpProduct,
  type SnpReport,
  type SnpSigningKey,
  type SnpTcb,
} from './abi.ts';
import { AMD_OID, clearSnpCertCache, extHwId, extInteger, extString, parseSnpCert, type SnpCert } from './cert.ts';
import { normalizeSnpCollateral, snpCertsOf, type SnpCertInput } from './collateral.ts';
import { SnpKeyMismatchError, SnpProductMismatchError } from './errors.ts';
import { PINNED_AMD_CERTS } from './roots.ts';
import { validateSnpReport } from './validate.ts';

/**
 * AlgorithmIdentifier DER for RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48:
 * the only signature algorithm AMD uses for ARK, ASK/ASVK and VCEK/VLEK. The
 * ARKs spell out the default trailerField (1); the others omit it.
 */
const RSA_PSS_SHA384_SALT48 = rsaPssAlgorithmIdentifiers('SHA-384', 48);

/** Options for `verifySnpReport`. */
export interface SnpVerifyOptions {
  /** Evaluation time, unix seconds. */
  now: number;
  /** When given, the verified report is also validated against `policy.sevSnp`. */
  policy?: Policy;
  /**
   * Replaces the pinned AMD ARK/ASK/ASVK for the listed products. Tests and
   * private deployments only; never set from untrusted input.
   */
  trustedRoots?: SnpTrustedRootsByProduct;
  /**
   * Expected product and, optionally, machine stepping (as go-sev-guest's
   * `Product` option). The stepping is the report's CPUID_STEP (v3+), else
   * the digit of the VCEK productName (`Milan-B0` -> 0). Mismatch, or a
   * stepping that cannot be established, throws `SnpProductMismatchError`.
   */
  expectedProduct?: { name: SnpProduct; stepping?: number };
}

/** Everything `verifySnpReport` established. */
export interface SnpVerifyResult {
  verdict: TeeVerdict;
  report: SnpReport;
  product: SnpProduct;
  signingKey: SnpSigningKey;
  /** Machine stepping: CPUID_STEP (v3+) or the VCEK productName's digit; undefined if neither says. */
  stepping: number | undefined;
  /** REPORTED_TCB decoded for the product; equal to the VCEK/VLEK's TCB. */
  reportedTcb: SnpTcb;
  /** Leaf (VCEK/VLEK), intermediate (ASK/ASVK), root (ARK). */
  chain: { leaf: SnpCert; intermediate: SnpCert; ark: SnpCert };
}

// ---------------------------------------------------------------- caches

const MAX_CACHE = 256;
const verifiedChains = new Map<string, Promise<void>>();

function cached<V>(map: Map<string, Promise<V>>, key: string, make: () => Promise<V>): Promise<V> {
  const hit = map.get(key);
  if (hit) return hit;
  if (map.size >= MAX_CACHE) map.delete(map.keys().next().value as string);
  const p = make();
  map.set(key, p);
  p.catch(() => {
    if (map.get(key) === p) map.delete(key);
  });
  return p;
}

/**
 * Drops every cached key and verified chain (for tests and key rotation).
 * Public keys are cached by `../x509/` on the parsed certificates, so those go too.
 */
export function clearSnpCaches(): void {
  clearSnpCertCache();
  pinnedParsed.clear();
  verifiedChains.clear();
}

// ---------------------------------------------------------------- chain

/**
 * Trust anchors for one product, replacing the pinned AMD certificates (as
 * go-sev-guest's `TrustedRoots` option does). For tests and private
 * deployments only: `sevSnpVerifier` never sets it.
 */
export interface SnpTrustedRoots {
  ark: SnpCertInput;
  ask?: SnpCertInput;
  asvk?: SnpCertInput;
}
export type SnpTrustedRootsByProduct = Partial<Record<SnpProduct, SnpTrustedRoots>>;

const pinnedParsed = new Map<string, SnpCert>();
function pinned(
  product: SnpProduct,
  role: 'ark' | 'ask' | 'asvk',
  roots: SnpTrustedRootsByProduct | undefined,
): SnpCert | undefined {
  const override = roots?.[product];
  if (override) {
    const input = override[role];
    if (input === undefined) return undefined;
    const all = snpCertsOf(input, `trusted ${role}`);
    const der = all[0];
    if (!der || all.length !== 1) throw new CertChainInvalidError(`trusted ${role} for ${product} must be one certificate`);
    return parseSnpCert(der);
  }
  const k = `${product}/${role}`;
  let c = pinnedParsed.get(k);
  if (!c) {
    c = parseSnpCert(fromBase64(PINNED_AMD_CERTS[product][role]));
    pinnedParsed.set(k, c);
  }
  return c;
}

/**
 * Checks that the names link and `issuer` signed `subject` (RSA-PSS SHA-384
 * salt 48, both AlgorithmIdentifiers byte-exact). AMD's CAs are
 * trusted by pinning, so CA flags are not checked here.
 */
async function verifyLink(subject: SnpCert, issuer: SnpCert, what: string): Promise<void> {
  if (!hasSignatureAlgorithm(subject.cert, RSA_PSS_SHA384_SALT48)) {
    throw new CertChainInvalidError(`${what}: signature algorithm is not RSASSA-PSS SHA-384 salt 48`);
  }
  await verifyIssuedBy(subject.cert, issuer.cert, {
    onInvalid: (m, cause) => new CertChainInvalidError(`${what}: ${m}`, { cause }),
  });
}

/** Verifies ARK (self-signed) -> intermediate -> leaf signatures; cached by the three certificates' bytes. */
function verifyChainSignatures(leaf: SnpCert, intermediate: SnpCert, ark: SnpCert): Promise<void> {
  return cached(verifiedChains, `${leaf.id}|${intermediate.id}|${ark.id}`, async () => {
    await verifyLink(ark, ark, `ARK ${ark.subjectCn}`);
    await verifyLink(intermediate, ark, `${intermediate.subjectCn}`);
    await verifyLink(leaf, intermediate, `${leaf.subjectCn}`);
  });
}

/** The product a VCEK/VLEK is for: its productName extension (`Milan-B0` -> Milan), else its issuer's CN. */
function leafProduct(leaf: SnpCert): SnpProduct {
  let name: string | undefined;
  try {
    name = extString(leaf, AMD_OID.productName);
  } catch (e) {
    throw new CollateralInvalidError(`SEV-SNP leaf productName: ${(e as Error).message}`, { cause: e });
  }
  const fromName = name?.split('-')[0];
  const fromIssuer = /^SEV-(?:VLEK-)?([A-Za-z]+)$/.exec(leaf.issuerCn ?? '')?.[1];
  const p = fromName ?? fromIssuer;
  const product = SNP_PRODUCTS.find((x) => x.toLowerCase() === p?.toLowerCase());
  if (!product) throw new UnsupportedFormatError(`SEV-SNP certificate is for an unknown AMD product (${p ?? 'none'})`);
  return product;
}

/** Picks the intermediate and root: from the collateral's chain when it brings one, else the pinned ones. */
function selectChain(
  leaf: SnpCert,
  chain: SnpCert[],
  product: SnpProduct,
  kind: SnpSigningKey,
  roots: SnpTrustedRootsByProduct | undefined,
): { intermediate: SnpCert; ark: SnpCert } {
  const pinnedArk = pinned(product, 'ark', roots);
  if (!pinnedArk) throw new CertChainInvalidError(`no trusted ARK for ${product}`);
  const selfIssued = chain.filter((c) => equalBytes(c.subject, c.issuer));
  const others = chain.filter((c) => !equalBytes(c.subject, c.issuer));
  let ark = pinnedArk;
  if (selfIssued.length) {
    const match = selfIssued.find((c) => equalBytes(c.spki, pinnedArk.spki));
    if (!match) {
      throw new CertChainInvalidError(`the ARK in the collateral is not the pinned AMD root for ${product}`);
    }
    ark = match;
  }
  let intermediate = pinned(product, kind === 'vcek' ? 'ask' : 'asvk', roots);
  if (others.length) {
    const match = others.find((c) => equalBytes(c.subject, leaf.issuer));
    if (!match) {
      throw new CertChainInvalidError(
        `the collateral chain has no issuer (${leaf.issuerCn ?? '?'}) for the ${kind.toUpperCase()} of ${product}`,
      );
    }
    intermediate = match;
  }
  if (!intermediate) throw new CertChainInvalidError(`no ${kind === 'vcek' ? 'ASK' : 'ASVK'} for ${product}`);
  const wantCn = kind === 'vcek' ? `SEV-${product}` : `SEV-VLEK-${product}`;
  if (intermediate.subjectCn !== wantCn) {
    throw new CertChainInvalidError(`expected intermediate ${wantCn}, got ${intermediate.subjectCn ?? '?'}`);
  }
  return { intermediate, ark };
}

/** The leaf's TCB extensions as a TCB_VERSION for the product. */
function leafTcb(leaf: SnpCert, product: SnpProduct): bigint {
  try {
    const get = (oid: string, name: string) => {
      const v = extInteger(leaf, oid);
      if (v === undefined || v > 255) throw new RangeError(`missing or invalid ${name}`);
      return v;
    };
    return encodeTcb(
      {
        bootloader: get(AMD_OID.blSpl, 'blSPL'),
        tee: get(AMD_OID.teeSpl, 'teeSPL'),
        snp: get(AMD_OID.snpSpl, 'snpSPL'),
        microcode: get(AMD_OID.ucodeSpl, 'ucodeSPL'),
        ...(product === 'Turin' ? { fmc: get(AMD_OID.fmcSpl, 'fmcSPL') } : {}),
      },
      product,
    );
  } catch (e) {
    throw new CollateralInvalidError(`SEV-SNP ${leaf.subjectCn ?? 'leaf'} TCB extension: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function safeProductName(leaf: SnpCert): string | undefined {
  try {
    return extString(leaf, AMD_OID.productName);
  } catch {
    return undefined;
  }
}

function hex64(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/** Verifies a leaf's chain to the pinned ARK and every validity window at `now`. */
async function verifyLeaf(
  leaf: SnpCert,
  chain: SnpCert[],
  kind: SnpSigningKey,
  now: number,
  roots: SnpTrustedRootsByProduct | undefined,
): Promise<{ product: SnpProduct; intermediate: SnpCert; ark: SnpCert; leafTcb: bigint }> {
  const product = leafProduct(leaf);
  const { intermediate, ark } = selectChain(leaf, chain, product, kind, roots);
  await verifyChainSignatures(leaf, intermediate, ark);
  checkCertTime(ark.cert, now, `ARK-${product}`);
  checkCertTime(intermediate.cert, now, intermediate.subjectCn ?? 'ASK');
  checkCertTime(leaf.cert, now, kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK');
  return { product, intermediate, ark, leafTcb: leafTcb(leaf, product) };
}

/** What `verifySnpCertChain` established about a VCEK/VLEK. */
export interface SnpCertChainResult {
  product: SnpProduct;
  kind: SnpSigningKey;
  /** The TCB the certificate is issued for. */
  tcb: SnpTcb;
  /** hwID (VCEK only): 64 bytes, or 8 on Turin. */
  hwId?: Uint8Array;
  /** Earliest notAfter of the three certificates, unix seconds. */
  notAfter: number;
  chain: { leaf: SnpCert; intermediate: SnpCert; ark: SnpCert };
}

/**
 * Verifies a VCEK or VLEK certificate up to the pinned AMD root without a
 * report: VCEK/VLEK <- ASK/ASVK <- ARK (RSA-PSS), validity at `now`. `chain`
 * is the KDS `cert_chain` (ASK or ASVK, then ARK); absent, the pinned
 * intermediates are used. Throws `AttestationError`s only.
 *
 * @example
 * const { product, tcb } = await verifySnpCertChain(vcekDer, askArkPem, { now });
 */
export async function verifySnpCertChain(
  leafInput: SnpCertInput,
  chainInput: SnpCertInput | SnpCertInput[] | undefined,
  { now, trustedRoots }: { now: number; trustedRoots?: SnpTrustedRootsByProduct },
): Promise<SnpCertChainResult> {
  try {
    const { leaves, chain } = normalizeSnpCollateral({ vcek: leafInput, certChain: chainInput });
    const leaf = parseSnpCert(leaves[0]!);
    const kind: SnpSigningKey | undefined =
      leaf.subjectCn === 'SEV-VCEK' ? 'vcek' : leaf.subjectCn === 'SEV-VLEK' ? 'vlek' : undefined;
    if (!kind) throw new CertChainInvalidError(`not a VCEK or VLEK certificate (${leaf.subjectCn ?? '?'})`);
    const r = await verifyLeaf(leaf, chain.map(parseSnpCert), kind, now, trustedRoots);
    const hwId = kind === 'vcek' ? extHwId(leaf) : undefined;
    return {
      product: r.product,
      kind,
      tcb: decodeTcb(r.leafTcb, r.product),
      ...(hwId ? { hwId: hwId.slice() } : {}),
      notAfter: Math.min(leaf.notAfter, r.intermediate.notAfter, r.ark.notAfter),
      chain: { leaf, intermediate: r.intermediate, ark: r.ark },
    };
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new CertChainInvalidError(`SEV-SNP certificate chain check failed: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
  }
}

/**
 * Verifies an AMD CA chain alone (ASK or ASVK, then optionally ARK) against
 * the pinned ARK of whichever product it names. Useful to check a KDS
 * `cert_chain` before caching it.
 */
export async function verifySnpCaChain(
  chainInput: SnpCertInput | SnpCertInput[],
  { now, trustedRoots }: { now: number; trustedRoots?: SnpTrustedRootsByProduct },
): Promise<{ product: SnpProduct; kind: SnpSigningKey; intermediate: SnpCert; ark: SnpCert; notAfter: number }> {
  try {
    const certs = snpCertsOf(chainInput, 'chain').map(parseSnpCert);
    const inter = certs.filter((c) => !equalBytes(c.subject, c.issuer));
    if (inter.length !== 1) throw new CertChainInvalidError(`expected one ASK/ASVK, got ${inter.length}`);
    const m = /^SEV-(VLEK-)?([A-Za-z]+)$/.exec(inter[0]!.subjectCn ?? '');
    const product = SNP_PRODUCTS.find((p) => p === m?.[2]);
    if (!m || !product) throw new CertChainInvalidError(`unknown AMD intermediate ${inter[0]!.subjectCn ?? '?'}`);
    const kind: SnpSigningKey = m[1] ? 'vlek' : 'vcek';
    const arks = certs.filter((c) => equalBytes(c.subject, c.issuer));
    const pinnedArk = pinned(product, 'ark', trustedRoots);
    if (!pinnedArk) throw new CertChainInvalidError(`no trusted ARK for ${product}`);
    const ark = arks.length ? arks.find((c) => equalBytes(c.spki, pinnedArk.spki)) : pinnedArk;
    if (!ark) throw new CertChainInvalidError(`the ARK in the chain is not the pinned AMD root for ${product}`);
    const intermediate = inter[0]!;
    await verifyLink(ark, ark, `ARK ${ark.subjectCn}`);
    await verifyLink(intermediate, ark, `${intermediate.subjectCn}`);
    checkCertTime(ark.cert, now, `ARK-${product}`);
    checkCertTime(intermediate.cert, now, intermediate.subjectCn ?? 'ASK');
    return { product, kind, intermediate, ark, notAfter: Math.min(ark.notAfter, intermediate.notAfter) };
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new CertChainInvalidError(`SEV-SNP CA chain check failed: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
  }
}

// ---------------------------------------------------------------- main

/**
 * Verifies an SEV-SNP attestation report: parses it, picks the VCEK or VLEK
 * from the collateral (as SIGNING_KEY says), verifies VCEK/VLEK <- ASK/ASVK
 * <- pinned ARK (RSA-PSS), every certificate's validity at `now`, that the
 * certificate's hwID is the report's CHIP_ID (VCEK) and its TCB extensions are
 * the report's REPORTED_TCB, and the report's ECDSA P-384 signature. With
 * `policy`, also validates against `policy.sevSnp` (see `validateSnpReport`).
 *
 * Every failure is an `AttestationError`. Chain signatures and imported keys
 * are cached by certificate bytes, so repeated verification is cheap.
 *
 * @example
 * const { verdict } = await verifySnpReport(reportBytes, { vcek: vcekDer }, { now, policy });
 */
export async function verifySnpReport(
  report: Uint8Array | SnpReport,
  collateral: unknown,
  options: SnpVerifyOptions,
): Promise<SnpVerifyResult> {
  try {
    return await verifyInner(report, collateral, options);
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new CertChainInvalidError(`SEV-SNP verification failed: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
  }
}

async function verifyInner(
  input: Uint8Array | SnpReport,
  collateral: unknown,
  { now, policy, trustedRoots, expectedProduct }: SnpVerifyOptions,
): Promise<SnpVerifyResult> {
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new PolicyInvalidError('SEV-SNP verification needs a finite evaluation time (unix seconds)');
  }
  const report = input instanceof Uint8Array ? parseSnpReport(input) : parseSnpReport(input.raw);
  if (report.signatureAlgo !== SNP_SIG_ALGO_ECDSA_P384_SHA384) {
    throw new UnsupportedFormatError(`SEV-SNP signature algorithm ${report.signatureAlgo} is not ECDSA P-384 SHA-384`);
  }
  if (report.maskChipKey) throw new QuoteSignatureInvalidError('SEV-SNP report is unsigned (MASK_CHIP_KEY set)');
  const kind = signingKeyOf(report);
  if (!kind) throw new UnsupportedFormatError(`SEV-SNP SIGNING_KEY ${report.signingKeyField} is not VCEK or VLEK`);

  const { leaves, chain } = normalizeSnpCollateral(collateral);
  const wantLeafCn = kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK';
  const leafCerts = leaves.map(parseSnpCert);
  const leaf = leafCerts.find((c) => c.subjectCn === wantLeafCn);
  if (!leaf) {
    throw new CollateralUnavailableError(`SEV-SNP report is signed by its ${kind.toUpperCase()}; collateral has none`);
  }
  const { product, intermediate, ark, leafTcb: certTcb } = await verifyLeaf(leaf, chain.map(parseSnpCert), kind, now, trustedRoots);
  if (report.cpuid) {
    const fromCpuid = productFromCpuid(report.cpuid.family, report.cpuid.model);
    if (fromCpuid && fromCpuid !== product) {
      throw new SnpKeyMismatchError(`report CPUID says ${fromCpuid}, ${kind.toUpperCase()} is for ${product}`);
    }
  }

  const productName = safeProductName(leaf);
  const nameStepping = /^[A-Za-z]+-[A-Za-z]([0-9])$/.exec(productName ?? '')?.[1];
  const stepping = report.cpuid ? report.cpuid.stepping : nameStepping !== undefined ? Number(nameStepping) : undefined;
  if (expectedProduct) {
    if (expectedProduct.name !== product) {
      throw new SnpProductMismatchError(`expected product ${expectedProduct.name}, got ${product}`);
    }
    if (expectedProduct.stepping !== undefined && expectedProduct.stepping !== stepping) {
      throw new SnpProductMismatchError(
        `expected product stepping ${expectedProduct.stepping}, got ${stepping ?? 'unknown'}`,
      );
    }
  }

  if (kind === 'vcek') {
    let hw: Uint8Array | undefined;
    try {
      hw = extHwId(leaf);
    } catch (e) {
      throw new CollateralInvalidError('VCEK hwID extension does not parse', { cause: e });
    }
    if (!hw) throw new CollateralInvalidError('VCEK has no hwID extension');
    // Turin VCEKs carry an 8-byte hwID (the first 8 bytes of CHIP_ID); earlier products all 64 bytes.
    const chip = product === 'Turin' ? report.chipId.subarray(0, 8) : report.chipId;
    if (!equalBytes(hw, chip)) {
      throw new SnpKeyMismatchError(`VCEK hwID ${toHex(hw)} is not the report's CHIP_ID ${toHex(report.chipId)}`);
    }
  }
  if (certTcb !== report.reportedTcb) {
    throw new SnpKeyMismatchError(
      `${wantLeafCn} TCB ${hex64(certTcb)} is not the report's REPORTED_TCB ${hex64(report.reportedTcb)}`,
    );
  }

  if (ecCurveOf(leaf.cert)?.name !== 'P-384') {
    throw new QuoteSignatureInvalidError(`SEV-SNP report signature check failed: the ${wantLeafCn} key is not ECDSA P-384`);
  }
  const ok = await verifyEcdsaRaw(leaf.cert, 'SHA-384', report.signatureRS, report.signed);
  if (!ok) throw new QuoteSignatureInvalidError(`SEV-SNP report signature does not verify with the ${wantLeafCn}`);

  const reportedTcb = decodeTcb(report.reportedTcb, product);
  if (policy) validateSnpReport(report, reportedTcb, product, policy);

  const expiresAt = Math.min(
    leaf.notAfter,
    intermediate.notAfter,
    ark.notAfter,
    policy ? now + policy.maxVerdictSeconds : Number.POSITIVE_INFINITY,
  );
  const { raw: _raw, ...tcbFields } = reportedTcb;
  const verdict: TeeVerdict = {
    kind: 'sev-snp',
    reportData: report.reportData.slice(),
    measurements: { measurement: toHex(report.measurement), hostData: toHex(report.hostData) },
    tcbStatus: 'UpToDate',
    advisoryIds: [],
    expiresAt,
    details: {
      product,
      productName,
      ...(stepping !== undefined ? { stepping } : {}),
      signingKey: kind,
      reportVersion: report.version,
      guestSvn: report.guestSvn,
      policy: hex64(report.policy),
      vmpl: report.vmpl,
      platformInfo: hex64(report.platformInfo),
      reportedTcb: { ...tcbFields, raw: hex64(report.reportedTcb) },
      currentTcb: hex64(report.currentTcb),
      committedTcb: hex64(report.committedTcb),
      launchTcb: hex64(report.launchTcb),
      chipId: toHex(report.chipId),
      familyId: toHex(report.familyId),
      imageId: toHex(report.imageId),
      idKeyDigest: toHex(report.idKeyDigest),
      authorKeyDigest: toHex(report.authorKeyDigest),
      reportId: toHex(report.reportId),
      firmware: `${report.currentVersion.major}.${report.currentVersion.minor}.${report.currentVersion.build}`,
      ...(report.cpuid ? { cpuid: { ...report.cpuid } } : {}),
    },
  };
  return { verdict, report, product, signingKey: kind, stepping, reportedTcb, chain: { leaf, intermediate, ark } };
}
