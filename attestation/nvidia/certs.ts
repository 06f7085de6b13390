/**
 * Small certificate-chain checks for NVIDIA device identity chains (ECDSA
 * only): parse, check each link's signature with Web Crypto, validity at the
 * evaluation time, CA constraints, and that the chain ends at a pinned root.
 *
 * Certificates are read with `@peculiar/asn1-x509` (no reflect polyfill
 * needed) plus a tiny DER walker for the exact signed bytes.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, Certificate, KeyUsage, KeyUsageFlags } from '@peculiar/asn1-x509';
import {
  CertChainInvalidError,
  CertExpiredError,
  CertNotYetValidError,
  MalformedEvidenceError,
} from '../errors.ts';
import { equalBytes, fromBase64, toHex } from '../util/bytes.ts';
import { derChildren, ecdsaDerToRaw, oidToString, parseDer, type DerNode } from './der.ts';

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const CURVES: Record<string, { name: 'P-256' | 'P-384' | 'P-521'; size: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'P-521', size: 66 },
};
const ECDSA_HASHES: Record<string, 'SHA-256' | 'SHA-384' | 'SHA-512'> = {
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
};
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
/** TCG DICE TcbInfo extension, which carries the firmware digests (FWIDs). */
export const OID_DICE_TCB_INFO = '2.23.133.5.4.1';
const MAX_CHAIN = 8;

/** A parsed certificate with the pieces chain checks need. */
export interface ParsedCert {
  der: Uint8Array;
  cert: Certificate;
  tbs: Uint8Array;
  issuerRaw: Uint8Array;
  subjectRaw: Uint8Array;
  spki: Uint8Array;
  sigAlg: string;
  signature: Uint8Array;
}

/** Splits PEM text into DER certificates (in order). Throws when there are none. */
export function pemToDer(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) {
    try {
      out.push(fromBase64(m[1]!));
    } catch (e) {
      throw new MalformedEvidenceError('certificate PEM block is not base64', { cause: e });
    }
  }
  if (out.length === 0) throw new MalformedEvidenceError('no PEM certificate found');
  return out;
}

/** Parses one DER certificate. Throws `MalformedEvidenceError`. */
export function parseCert(der: Uint8Array): ParsedCert {
  try {
    const top = parseDer(der);
    const [tbsNode, algNode, sigNode] = derChildren(top);
    if (top.tag !== 0x30 || !tbsNode || !algNode || !sigNode || sigNode.tag !== 0x03) {
      throw new MalformedEvidenceError('certificate is not SEQUENCE { tbs, alg, BIT STRING }');
    }
    const tbsParts = derChildren(tbsNode);
    const off = tbsParts[0]?.tag === 0xa0 ? 1 : 0; // explicit version
    const issuer = tbsParts[off + 2];
    const subject = tbsParts[off + 4];
    const spki = tbsParts[off + 5];
    if (!issuer || !subject || !spki) throw new MalformedEvidenceError('certificate TBS is truncated');
    const algOid = derChildren(algNode)[0];
    if (!algOid || algOid.tag !== 0x06) throw new MalformedEvidenceError('certificate signature algorithm missing');
    if (sigNode.content[0] !== 0) throw new MalformedEvidenceError('certificate signature has unused bits');
    const cert = AsnConvert.parse(der, Certificate);
    return {
      der,
      cert,
      tbs: tbsNode.raw,
      issuerRaw: issuer.raw,
      subjectRaw: subject.raw,
      spki: spki.raw,
      sigAlg: oidToString(algOid.content),
      signature: sigNode.content.subarray(1),
    };
  } catch (e) {
    if (e instanceof MalformedEvidenceError) throw e;
    throw new MalformedEvidenceError('certificate does not parse', { cause: e });
  }
}

/** Imports an EC public key from SPKI DER for ECDSA verification. */
export async function importEcdsaKey(spki: Uint8Array): Promise<{ key: CryptoKey; size: number }> {
  const parts = derChildren(parseDer(spki));
  const alg = parts[0] ? derChildren(parts[0]) : [];
  if (alg[0]?.tag !== 0x06 || oidToString(alg[0].content) !== OID_EC_PUBLIC_KEY || alg[1]?.tag !== 0x06) {
    throw new CertChainInvalidError('certificate key is not an EC public key');
  }
  const curve = CURVES[oidToString(alg[1].content)];
  if (!curve) throw new CertChainInvalidError('certificate key uses an unsupported curve');
  try {
    const key = await crypto.subtle.importKey('spki', new Uint8Array(spki), { name: 'ECDSA', namedCurve: curve.name }, false, [
      'verify',
    ]);
    return { key, size: curve.size };
  } catch (e) {
    throw new CertChainInvalidError('certificate public key does not import', { cause: e });
  }
}

/** Verifies a raw r‖s ECDSA signature. False on any failure. */
export async function ecdsaVerifyRaw(
  key: CryptoKey,
  hash: 'SHA-256' | 'SHA-384' | 'SHA-512',
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  try {
    return await crypto.subtle.verify({ name: 'ECDSA', hash }, key, new Uint8Array(signature), new Uint8Array(data));
  } catch {
    return false;
  }
}

async function signedBy(child: ParsedCert, issuer: ParsedCert): Promise<boolean> {
  const hash = ECDSA_HASHES[child.sigAlg];
  if (!hash) return false;
  const { key, size } = await importEcdsaKey(issuer.spki);
  let raw: Uint8Array;
  try {
    raw = ecdsaDerToRaw(child.signature, size);
  } catch {
    return false;
  }
  return ecdsaVerifyRaw(key, hash, raw, child.tbs);
}

function extension(c: ParsedCert, oid: string) {
  return c.cert.tbsCertificate.extensions?.find((e) => e.extnID === oid);
}

/** Common name (or the whole subject) for messages. */
export function subjectCommonName(c: ParsedCert): string {
  return attribute(c, '2.5.4.3') ?? '(no CN)';
}

/** A subject attribute's string value by OID (e.g. `2.5.4.5` serialNumber). */
export function attribute(c: ParsedCert, oid: string): string | undefined {
  for (const rdn of c.cert.tbsCertificate.subject) {
    for (const atv of rdn) {
      if (atv.type === oid) return atv.value.toString();
    }
  }
  return undefined;
}

/** Validity window in unix seconds. */
export function validity(c: ParsedCert): { notBefore: number; notAfter: number } {
  const v = c.cert.tbsCertificate.validity;
  return { notBefore: v.notBefore.getTime().getTime() / 1000, notAfter: v.notAfter.getTime().getTime() / 1000 };
}

function checkTime(c: ParsedCert, now: number): void {
  const { notBefore: nb, notAfter: na } = validity(c);
  if (now < nb) throw new CertNotYetValidError(`certificate "${subjectCommonName(c)}" is not valid before ${nb}`);
  if (now > na) throw new CertExpiredError(`certificate "${subjectCommonName(c)}" expired at ${na}`);
}

function checkCa(c: ParsedCert, caBelow: number): void {
  const bcExt = extension(c, OID_BASIC_CONSTRAINTS);
  if (!bcExt) throw new CertChainInvalidError(`issuer "${subjectCommonName(c)}" has no basicConstraints`);
  const bc = AsnConvert.parse(bcExt.extnValue, BasicConstraints);
  if (!bc.cA) throw new CertChainInvalidError(`issuer "${subjectCommonName(c)}" is not a CA`);
  if (bc.pathLenConstraint !== undefined && caBelow > bc.pathLenConstraint) {
    throw new CertChainInvalidError(`issuer "${subjectCommonName(c)}" path length constraint exceeded`);
  }
  const kuExt = extension(c, OID_KEY_USAGE);
  if (kuExt) {
    const ku = AsnConvert.parse(kuExt.extnValue, KeyUsage);
    if ((ku.toNumber() & KeyUsageFlags.keyCertSign) === 0) {
      throw new CertChainInvalidError(`issuer "${subjectCommonName(c)}" may not sign certificates`);
    }
  }
}

/**
 * Verifies `chain` (leaf first) up to the pinned `root` (DER) at `now` (unix
 * seconds). The chain may or may not include the root itself. Returns the
 * parsed chain (leaf first, ending at the root).
 */
export async function verifyChainToRoot(chain: Uint8Array[], root: Uint8Array, now: number): Promise<ParsedCert[]> {
  if (chain.length === 0) throw new CertChainInvalidError('empty certificate chain');
  if (chain.length > MAX_CHAIN) throw new CertChainInvalidError(`certificate chain longer than ${MAX_CHAIN}`);
  const rootCert = parseCert(root);
  const certs = chain.map(parseCert);
  const rootAt = certs.findIndex((c) => equalBytes(c.der, root));
  if (rootAt >= 0 && rootAt !== certs.length - 1) {
    throw new CertChainInvalidError('certificates follow the root in the chain');
  }
  const path = rootAt >= 0 ? certs : [...certs, rootCert];
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    checkTime(c, now);
    if (i > 0) checkCa(c, Math.max(0, i - 1));
    const issuer = i + 1 < path.length ? path[i + 1]! : c; // the root signs itself
    if (!equalBytes(c.issuerRaw, issuer.subjectRaw)) {
      throw new CertChainInvalidError(`certificate "${subjectCommonName(c)}" is not issued by "${subjectCommonName(issuer)}"`);
    }
    if (!(await signedBy(c, issuer))) {
      throw new CertChainInvalidError(`signature on certificate "${subjectCommonName(c)}" does not verify`);
    }
  }
  return path;
}

const HASH_OIDS = new Set([
  '2.16.840.1.101.3.4.2.1', // SHA-256
  '2.16.840.1.101.3.4.2.2', // SHA-384
  '2.16.840.1.101.3.4.2.3', // SHA-512
]);

/**
 * FWID digests (hex) from the leaf's TCG DICE extension (2.23.133.5.4.1), or
 * `undefined` when the certificate has none. Collects every
 * `SEQUENCE { hashAlg OID, digest OCTET STRING }` inside the extension: NVIDIA
 * GH100 leaves carry one such FWID (SHA-384) after the device key.
 */
export function diceFwids(c: ParsedCert): string[] | undefined {
  const ext = extension(c, OID_DICE_TCB_INFO);
  if (!ext) return undefined;
  const out: string[] = [];
  const walk = (node: DerNode, depth: number): void => {
    if ((node.tag & 0x20) === 0 || depth > 6) return;
    const kids = derChildren(node);
    const [a, b] = kids;
    if (node.tag === 0x30 && kids.length === 2 && a?.tag === 0x06 && b?.tag === 0x04 && HASH_OIDS.has(oidToString(a.content))) {
      out.push(toHex(b.content));
      return;
    }
    for (const k of kids) walk(k, depth + 1);
  };
  walk(parseDer(new Uint8Array(ext.extnValue.buffer)), 0);
  return out;
}
