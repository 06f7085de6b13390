/**
 * NVIDIA Reference Integrity Manifests (RIMs): signed SWID tags carrying the
 * golden measurements for a GPU driver or VBIOS. parse → verify (enveloped
 * XML-DSig, ECDSA P-384/SHA-384 over inclusive C14N, certificate chain to the
 * pinned NVIDIA CoRIM root) → compare with the SPDM measurements.
 *
 * Offline only: OCSP status of the RIM certificates is not checked.
 */
import {
  AttestationError,
  CollateralInvalidError,
  MalformedEvidenceError,
  MeasurementNotAllowedError,
  UnsupportedFormatError,
} from '../errors.ts';
import { digest, equalBytes, fromBase64, utf8 } from '../util/bytes.ts';
import { verifyEcdsaRaw } from '../x509/index.ts';
import { ecdsaKeyCurve, parseCert, pemToDer, subjectCommonName, verifyChainToRoot } from './certs.ts';
import { NVIDIA_RIM_ROOT_PEM } from './roots.ts';
import { attr, canonicalize, childElements, onlyChild, parseXml, textOf, type XmlElement } from './xml.ts';

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const SWID = 'http://standards.iso.org/iso/19770/-2/2015/schema.xsd';
const C14N = new Set(['http://www.w3.org/2006/12/xml-c14n11', 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315']);
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const ECDSA_SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384';
const DIGESTS: Record<string, 'SHA-256' | 'SHA-384' | 'SHA-512'> = {
  'http://www.w3.org/2001/04/xmlenc#sha256': 'SHA-256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384': 'SHA-384',
  'http://www.w3.org/2001/04/xmlenc#sha512': 'SHA-512',
};

/** One golden measurement of a RIM. */
export interface RimMeasurement {
  /** RIM index (0-based); it is SPDM measurement index `index + 1`. */
  index: number;
  name?: string;
  /** Accepted values, lowercase hex. */
  alternatives: string[];
}

/** A verified RIM. */
export interface Rim {
  tagId: string;
  /** SWID `name`, e.g. `GH100`. */
  product: string;
  /** `Meta/@colloquialVersion`, e.g. the driver version or the VBIOS version. */
  version: string;
  /** Active measurements only. */
  measurements: RimMeasurement[];
  /** Signer certificate common name. */
  signer: string;
  /** Earliest notAfter of the signing chain, unix seconds. */
  chainExpiresAt: number;
}

/** Options for `verifyRim`. */
export interface RimVerifyOptions {
  /** Evaluation time for the certificate chain, unix seconds. */
  now: number;
  /** Trust anchor (DER). Default: the pinned NVIDIA CoRIM signing root. */
  root?: Uint8Array;
}

let pinnedRimRoot: Uint8Array | undefined;

function algorithm(el: XmlElement): string {
  return attr(el, 'Algorithm') ?? '';
}

function b64(text: string, what: string): Uint8Array {
  try {
    return fromBase64(text.replace(/\s+/g, ''));
  } catch (e) {
    throw new MalformedEvidenceError(`${what} is not base64`, { cause: e });
  }
}

/**
 * Verifies a signed RIM (SWID tag XML text) and returns its golden
 * measurements. Throws `MalformedEvidenceError`, `UnsupportedFormatError`,
 * `CollateralInvalidError` (digest or signature), or a certificate error.
 */
export async function verifyRim(xml: string, opts: RimVerifyOptions): Promise<Rim> {
  try {
    if (typeof xml !== 'string') throw new MalformedEvidenceError('RIM is not text');
    const root = parseXml(xml);
    if (root.ns !== SWID || root.local !== 'SoftwareIdentity') throw new MalformedEvidenceError('RIM is not a SWID tag');
    const sig = onlyChild(root, DSIG, 'Signature');
    const signedInfo = onlyChild(sig, DSIG, 'SignedInfo');
    if (!C14N.has(algorithm(onlyChild(signedInfo, DSIG, 'CanonicalizationMethod')))) {
      throw new UnsupportedFormatError('RIM canonicalization method is not inclusive C14N');
    }
    if (algorithm(onlyChild(signedInfo, DSIG, 'SignatureMethod')) !== ECDSA_SHA384) {
      throw new UnsupportedFormatError('RIM signature method is not ECDSA-SHA384');
    }
    const ref = onlyChild(signedInfo, DSIG, 'Reference');
    if (attr(ref, 'URI') !== '') throw new UnsupportedFormatError('RIM reference does not cover the whole document');
    const transforms = childElements(onlyChild(ref, DSIG, 'Transforms'), DSIG, 'Transform').map(algorithm);
    if (transforms[0] !== ENVELOPED || transforms.length > 2 || (transforms[1] !== undefined && !C14N.has(transforms[1]))) {
      throw new UnsupportedFormatError('RIM reference transforms are not enveloped-signature + C14N');
    }
    const digestAlg = DIGESTS[algorithm(onlyChild(ref, DSIG, 'DigestMethod'))];
    if (!digestAlg) throw new UnsupportedFormatError('RIM digest method is not supported');
    const digestValue = b64(textOf(onlyChild(ref, DSIG, 'DigestValue')), 'RIM digest value');
    const signature = b64(textOf(onlyChild(sig, DSIG, 'SignatureValue')), 'RIM signature value');
    const certs = childElements(onlyChild(onlyChild(sig, DSIG, 'KeyInfo'), DSIG, 'X509Data'), DSIG, 'X509Certificate').map(
      (c) => b64(textOf(c), 'RIM certificate'),
    );
    if (certs.length === 0) throw new MalformedEvidenceError('RIM carries no signing certificate');

    if (!equalBytes(await digest(digestAlg, utf8(canonicalize(root, sig))), digestValue)) {
      throw new CollateralInvalidError('RIM content digest does not match its signature reference (tampered RIM)');
    }
    const signer = parseCert(certs[0]!);
    const { size } = await ecdsaKeyCurve(signer);
    if (size !== 48 || signature.length !== 96) throw new CollateralInvalidError('RIM signature is not ECDSA P-384');
    if (!(await verifyEcdsaRaw(signer, 'SHA-384', signature, utf8(canonicalize(signedInfo))))) {
      throw new CollateralInvalidError('RIM signature does not verify');
    }
    pinnedRimRoot ??= pemToDer(NVIDIA_RIM_ROOT_PEM)[0]!;
    const path = await verifyChainToRoot(certs, opts.root ?? pinnedRimRoot, opts.now);

    const meta = childElements(root, SWID, 'Meta')[0];
    const payload = onlyChild(root, SWID, 'Payload');
    const measurements: RimMeasurement[] = [];
    const seen = new Set<number>();
    for (const r of childElements(payload, SWID, 'Resource')) {
      if (attr(r, 'type') !== 'Measurement') continue;
      const index = Number(attr(r, 'index'));
      if (!Number.isInteger(index) || index < 0 || index > 254) throw new MalformedEvidenceError('RIM measurement index is invalid');
      if (seen.has(index)) throw new MalformedEvidenceError(`RIM measurement index ${index} repeats`);
      seen.add(index);
      if ((attr(r, 'active') ?? '').toLowerCase() !== 'true') continue;
      const hashes = r.attrs
        .filter((a) => /^Hash\d+$/.test(a.local) && a.ns !== '')
        .sort((a, b) => Number(a.local.slice(4)) - Number(b.local.slice(4)))
        .map((a) => a.value.toLowerCase());
      const count = Number(attr(r, 'alternatives'));
      if (hashes.length === 0 || count !== hashes.length || !hashes.every((h) => /^[0-9a-f]+$/.test(h))) {
        throw new MalformedEvidenceError(`RIM measurement ${index} has inconsistent alternatives`);
      }
      const m: RimMeasurement = { index, alternatives: hashes };
      const name = attr(r, 'name');
      if (name) m.name = name;
      measurements.push(m);
    }
    return {
      tagId: attr(root, 'tagId') ?? '',
      product: attr(root, 'name') ?? '',
      version: (meta && attr(meta, 'colloquialVersion')) ?? '',
      measurements,
      signer: subjectCommonName(path[0]!),
      chainExpiresAt: Math.min(...path.map((c) => c.notAfter)),
    };
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new MalformedEvidenceError('RIM could not be processed', { cause: e });
  }
}

/** The outcome of comparing SPDM measurements with RIMs. */
export interface RimComparison {
  /** SPDM indices whose value matched a golden value. */
  matched: number[];
}

/**
 * Compares SPDM measurements (by SPDM index, hex) with the driver and VBIOS
 * RIMs as NVIDIA's verifier does: RIM index i is SPDM index i+1; an index
 * active in both RIMs is a conflict; every active golden measurement must be
 * matched by one of its alternatives; the RIM versions must equal the
 * versions the GPU reports. Throws `MeasurementNotAllowedError`.
 */
export function compareWithRims(
  measurements: Record<string, string>,
  rims: { driver: Rim; vbios: Rim },
  versions?: { driverVersion?: string; vbiosVersion?: string },
): RimComparison {
  if (versions?.driverVersion !== undefined && rims.driver.version !== versions.driverVersion) {
    throw new MeasurementNotAllowedError(
      `driver RIM is for version ${rims.driver.version}, the GPU reports driver ${versions.driverVersion}`,
    );
  }
  if (versions?.vbiosVersion !== undefined && rims.vbios.version.toUpperCase() !== versions.vbiosVersion.toUpperCase()) {
    throw new MeasurementNotAllowedError(
      `VBIOS RIM is for version ${rims.vbios.version}, the GPU reports VBIOS ${versions.vbiosVersion}`,
    );
  }
  const driverIdx = new Set(rims.driver.measurements.map((m) => m.index));
  const conflict = rims.vbios.measurements.find((m) => driverIdx.has(m.index));
  if (conflict) throw new MeasurementNotAllowedError(`RIM index ${conflict.index} is active in both the driver and VBIOS RIMs`);
  const matched: number[] = [];
  const bad: number[] = [];
  for (const m of [...rims.driver.measurements, ...rims.vbios.measurements]) {
    const spdmIndex = m.index + 1;
    const actual = measurements[String(spdmIndex)]?.toLowerCase();
    if (actual !== undefined && m.alternatives.includes(actual)) matched.push(spdmIndex);
    else bad.push(spdmIndex);
  }
  if (bad.length > 0) {
    throw new MeasurementNotAllowedError(`GPU measurements do not match the RIMs at SPDM indices ${bad.sort((a, b) => a - b).join(', ')}`);
  }
  return { matched: matched.sort((a, b) => a - b) };
}
