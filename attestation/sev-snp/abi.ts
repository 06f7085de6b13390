import { MalformedEvidenceError, UnsupportedFormatError } from '../errors.ts';

/**
 * AMD SEV-SNP attestation report (SEV Secure Nested Paging Firmware ABI
 * specification #56860, "ATTESTATION_REPORT Structure"). Fixed 0x4A0 bytes,
 * little-endian:
 *
 * | off   | len | field |
 * |-------|-----|-------|
 * | 0x000 | 4   | VERSION (2, 3, 4, 5; newer versions keep this layout) |
 * | 0x004 | 4   | GUEST_SVN |
 * | 0x008 | 8   | POLICY (guest policy) |
 * | 0x010 | 16  | FAMILY_ID |
 * | 0x020 | 16  | IMAGE_ID |
 * | 0x030 | 4   | VMPL |
 * | 0x034 | 4   | SIGNATURE_ALGO (1 = ECDSA P-384 with SHA-384) |
 * | 0x038 | 8   | CURRENT_TCB |
 * | 0x040 | 8   | PLATFORM_INFO |
 * | 0x048 | 4   | flags: bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 2-4 SIGNING_KEY |
 * | 0x050 | 64  | REPORT_DATA |
 * | 0x090 | 48  | MEASUREMENT |
 * | 0x0C0 | 32  | HOST_DATA |
 * | 0x0E0 | 48  | ID_KEY_DIGEST |
 * | 0x110 | 48  | AUTHOR_KEY_DIGEST |
 * | 0x140 | 32  | REPORT_ID |
 * | 0x160 | 32  | REPORT_ID_MA |
 * | 0x180 | 8   | REPORTED_TCB |
 * | 0x188 | 3   | CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (version >= 3; reserved before) |
 * | 0x1A0 | 64  | CHIP_ID |
 * | 0x1E0 | 8   | COMMITTED_TCB |
 * | 0x1E8 | 4   | CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR, reserved |
 * | 0x1EC | 4   | COMMITTED_BUILD, COMMITTED_MINOR, COMMITTED_MAJOR, reserved |
 * | 0x1F0 | 8   | LAUNCH_TCB |
 * | 0x1F8 | 8   | LAUNCH_MIT_VECTOR (version >= 5) |
 * | 0x200 | 8   | CURRENT_MIT_VECTOR (version >= 5) |
 * | 0x2A0 | 512 | SIGNATURE: R (72 B LE), S (72 B LE), reserved (zero) |
 *
 * The signature covers bytes 0x000..0x29F.
 */
export const SNP_REPORT_SIZE = 0x4a0;
export const SNP_SIGNED_LENGTH = 0x2a0;
export const SNP_SIGNATURE_OFFSET = 0x2a0;
/** Size of each of R and S in the signature (little-endian, zero-padded). */
export const SNP_SIG_COMPONENT_SIZE = 72;
/** SIGNATURE_ALGO value for ECDSA P-384 with SHA-384. */
export const SNP_SIG_ALGO_ECDSA_P384_SHA384 = 1;
/** Oldest report version whose layout is the one above. */
export const SNP_MIN_REPORT_VERSION = 2;
/** Newest version this parser knows by name; newer ones are parsed with the fixed layout. */
export const SNP_MAX_KNOWN_REPORT_VERSION = 5;

/** Guest policy bits (POLICY at 0x08). */
export const SnpGuestPolicyBits = {
  SMT: 1n << 16n,
  RESERVED_MBO: 1n << 17n,
  MIGRATE_MA: 1n << 18n,
  DEBUG: 1n << 19n,
  SINGLE_SOCKET: 1n << 20n,
  CXL_ALLOW: 1n << 21n,
  MEM_AES_256_XTS: 1n << 22n,
  RAPL_DIS: 1n << 23n,
  CIPHERTEXT_HIDING: 1n << 24n,
  PAGE_SWAP_DISABLE: 1n << 25n,
} as const;

/** PLATFORM_INFO bits (at 0x40). */
export const SnpPlatformInfoBits = {
  SMT_EN: 1n << 0n,
  TSME_EN: 1n << 1n,
  ECC_EN: 1n << 2n,
  RAPL_DIS: 1n << 3n,
  CIPHERTEXT_HIDING_EN: 1n << 4n,
  ALIAS_CHECK_COMPLETE: 1n << 5n,
  TIO_EN: 1n << 7n,
} as const;

/** AMD EPYC generations with SEV-SNP whose roots are pinned. */
export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';
export const SNP_PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

/** Which key signed the report: the chip's VCEK or a cloud provider's VLEK. */
export type SnpSigningKey = 'vcek' | 'vlek';

/** A decoded TCB_VERSION. `fmc` is set only for the Turin layout. */
export interface SnpTcb {
  /** The raw 64-bit value. */
  raw: bigint;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  fmc?: number;
}

/** A parsed SEV-SNP attestation report. Byte fields are copies. */
export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: bigint;
  platformInfo: bigint;
  flags: number;
  authorKeyEn: boolean;
  maskChipKey: boolean;
  /** SIGNING_KEY field: 0 VCEK, 1 VLEK, 7 none; other values reserved. */
  signingKeyField: number;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: bigint;
  /** CPUID family/model/stepping, from version 3 on; undefined before. */
  cpuid?: { family: number; model: number; stepping: number };
  chipId: Uint8Array;
  committedTcb: bigint;
  currentVersion: { major: number; minor: number; build: number };
  committedVersion: { major: number; minor: number; build: number };
  launchTcb: bigint;
  /** From version 5 on; undefined before. */
  launchMitVector?: bigint;
  currentMitVector?: bigint;
  /** R and S as big-endian 48-byte integers, concatenated (Web Crypto's ECDSA format). */
  signatureRS: Uint8Array;
  /** Bytes 0x000..0x29F: what the signature covers. */
  signed: Uint8Array;
  /** The whole report. */
  raw: Uint8Array;
}

/** Decodes a TCB_VERSION for a product. Turin moved the fields and added FMC. */
export function decodeTcb(raw: bigint, product: SnpProduct): SnpTcb {
  const byte = (i: number) => Number((raw >> BigInt(8 * i)) & 0xffn);
  if (product === 'Turin') {
    return { raw, fmc: byte(0), bootloader: byte(1), tee: byte(2), snp: byte(3), microcode: byte(7) };
  }
  return { raw, bootloader: byte(0), tee: byte(1), snp: byte(6), microcode: byte(7) };
}

/** Encodes TCB fields into a TCB_VERSION for a product (reserved bytes zero). */
export function encodeTcb(
  t: { bootloader: number; tee: number; snp: number; microcode: number; fmc?: number },
  product: SnpProduct,
): bigint {
  const at = (v: number, i: number) => BigInt(v & 0xff) << BigInt(8 * i);
  if (product === 'Turin') {
    return at(t.fmc ?? 0, 0) | at(t.bootloader, 1) | at(t.tee, 2) | at(t.snp, 3) | at(t.microcode, 7);
  }
  return at(t.bootloader, 0) | at(t.tee, 1) | at(t.snp, 6) | at(t.microcode, 7);
}

/**
 * Product from the CPUID family/model a v3+ report carries.
 * Family 19h: models 00h-0Fh Milan, 10h-1Fh and A0h-AFh Genoa (incl. Bergamo/Siena).
 * Family 1Ah: models 00h-1Fh Turin. Anything else: undefined.
 */
export function productFromCpuid(family: number, model: number): SnpProduct | undefined {
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan';
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return 'Genoa';
  }
  if (family === 0x1a && model <= 0x1f) return 'Turin';
  return undefined;
}

/** The signing key the report names, or undefined for "none" / reserved values. */
export function signingKeyOf(report: SnpReport): SnpSigningKey | undefined {
  if (report.signingKeyField === 0) return 'vcek';
  if (report.signingKeyField === 1) return 'vlek';
  return undefined;
}

/** Converts a 72-byte little-endian zero-padded integer to 48 bytes big-endian; undefined if it does not fit. */
function leToBe48(le: Uint8Array): Uint8Array | undefined {
  for (let i = 48; i < le.length; i++) if (le[i] !== 0) return undefined;
  const out = new Uint8Array(48);
  for (let i = 0; i < 48; i++) out[i] = le[47 - i]!;
  return out;
}

/**
 * Parses an SEV-SNP attestation report. Throws `UnsupportedFormatError` for
 * versions older than 2, `MalformedEvidenceError` for wrong sizes, an
 * oversized signature component, or nonzero bytes in the unsigned reserved
 * part of the signature area.
 *
 * @example
 * const report = parseSnpReport(bytes);
 * report.measurement // 48 bytes
 */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (!(bytes instanceof Uint8Array)) throw new MalformedEvidenceError('SEV-SNP report must be bytes');
  if (bytes.length !== SNP_REPORT_SIZE) {
    throw new MalformedEvidenceError(`SEV-SNP report must be ${SNP_REPORT_SIZE} bytes, got ${bytes.length}`);
  }
  const b = bytes.slice();
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (o: number) => view.getUint32(o, true);
  const u64 = (o: number) => view.getBigUint64(o, true);
  const version = u32(0x00);
  if (version < SNP_MIN_REPORT_VERSION) {
    throw new UnsupportedFormatError(`SEV-SNP report version ${version} is not supported (need >= ${SNP_MIN_REPORT_VERSION})`);
  }
  const r = leToBe48(b.subarray(SNP_SIGNATURE_OFFSET, SNP_SIGNATURE_OFFSET + SNP_SIG_COMPONENT_SIZE));
  const s = leToBe48(
    b.subarray(SNP_SIGNATURE_OFFSET + SNP_SIG_COMPONENT_SIZE, SNP_SIGNATURE_OFFSET + 2 * SNP_SIG_COMPONENT_SIZE),
  );
  if (!r || !s) throw new MalformedEvidenceError('SEV-SNP signature component exceeds 384 bits');
  for (let i = SNP_SIGNATURE_OFFSET + 2 * SNP_SIG_COMPONENT_SIZE; i < SNP_REPORT_SIZE; i++) {
    if (b[i] !== 0) throw new MalformedEvidenceError('SEV-SNP signature reserved bytes are not zero');
  }
  const signatureRS = new Uint8Array(96);
  signatureRS.set(r, 0);
  signatureRS.set(s, 48);
  const flags = u32(0x48);
  const ver = (o: number) => ({ build: b[o]!, minor: b[o + 1]!, major: b[o + 2]! });
  const report: SnpReport = {
    version,
    guestSvn: u32(0x04),
    policy: u64(0x08),
    familyId: b.slice(0x10, 0x20),
    imageId: b.slice(0x20, 0x30),
    vmpl: u32(0x30),
    signatureAlgo: u32(0x34),
    currentTcb: u64(0x38),
    platformInfo: u64(0x40),
    flags,
    authorKeyEn: (flags & 1) !== 0,
    maskChipKey: (flags & 2) !== 0,
    signingKeyField: (flags >>> 2) & 7,
    reportData: b.slice(0x50, 0x90),
    measurement: b.slice(0x90, 0xc0),
    hostData: b.slice(0xc0, 0xe0),
    idKeyDigest: b.slice(0xe0, 0x110),
    authorKeyDigest: b.slice(0x110, 0x140),
    reportId: b.slice(0x140, 0x160),
    reportIdMa: b.slice(0x160, 0x180),
    reportedTcb: u64(0x180),
    chipId: b.slice(0x1a0, 0x1e0),
    committedTcb: u64(0x1e0),
    currentVersion: ver(0x1e8),
    committedVersion: ver(0x1ec),
    launchTcb: u64(0x1f0),
    signatureRS,
    signed: b.slice(0, SNP_SIGNED_LENGTH),
    raw: b,
  };
  if (version >= 3) report.cpuid = { family: b[0x188]!, model: b[0x189]!, stepping: b[0x18a]! };
  if (version >= 5) {
    report.launchMitVector = u64(0x1f8);
    report.currentMitVector = u64(0x200);
  }
  return report;
}
