/**
 * Intel TCB Info (v2/v3, id `SGX` or `TDX`) and Enclave Identity (QE / TD_QE)
 * parsing, PCK certificate SGX extensions, and TCB-level matching and status
 * convergence as Intel's Quote Verification Library does it. Pure functions;
 * signatures are checked in `verify.ts` before anything here runs.
 */
import { z } from 'zod';
import { CollateralInvalidError, PckChainInvalidError, TcbNoMatchError } from '../errors.ts';
import { toHex } from '../util/bytes.ts';
import { children, decodeOid, decodeSmallUint, readWhole, TAG, type Tlv } from '../x509/der.ts';
import type { Certificate } from '../x509/index.ts';
import type { SgxReportBody, TdReportBody } from './abi.ts';
import { QeIdentityMismatchError, TdxModuleMismatchError } from './errors.ts';
import { TcbStatus } from '../policy.ts';

/** Intel TCB statuses, in the order dcap-qvl ranks them (best first): the policy's list. */
export const TCB_STATUSES = TcbStatus.options;
export type IntelTcbStatus = TcbStatus;

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${n * 2}}$`)).transform((s) => s.toLowerCase());
const date = z.string().transform((s, ctx) => {
  const t = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(s) || Number.isNaN(t)) {
    ctx.addIssue({ code: 'custom', message: 'bad date' });
    return z.NEVER;
  }
  return Math.floor(t / 1000);
});
const status = z.enum(TCB_STATUSES);
const svn = z.number().int().min(0).max(0xffff);
const comps = z.array(z.object({ svn: z.number().int().min(0).max(255) })).length(16);

const TcbLevelV3 = z.object({
  tcb: z.object({ sgxtcbcomponents: comps, pcesvn: svn, tdxtcbcomponents: comps.optional() }),
  tcbDate: z.string(),
  tcbStatus: status,
  advisoryIDs: z.array(z.string()).optional(),
});
const TcbLevelV2 = z.object({
  tcb: z.record(z.string(), z.number().int().min(0).max(0xffff)),
  tcbDate: z.string(),
  tcbStatus: status,
  advisoryIDs: z.array(z.string()).optional(),
});
const IsvLevel = z.object({
  tcb: z.object({ isvsvn: svn }),
  tcbDate: z.string(),
  tcbStatus: status,
  advisoryIDs: z.array(z.string()).optional(),
});
const ModuleIdentity = z.object({
  id: z.string(),
  mrsigner: hex(48),
  attributes: hex(8),
  attributesMask: hex(8),
  tcbLevels: z.array(IsvLevel).min(1),
});
const TcbInfoSchema = z.object({
  id: z.enum(['SGX', 'TDX']).default('SGX'),
  version: z.union([z.literal(2), z.literal(3)]),
  issueDate: date,
  nextUpdate: date,
  fmspc: hex(6),
  pceId: hex(2),
  tcbType: z.literal(0),
  tcbEvaluationDataNumber: z.number().int().min(0),
  tdxModule: z.object({ mrsigner: hex(48), attributes: hex(8), attributesMask: hex(8) }).optional(),
  tdxModuleIdentities: z.array(ModuleIdentity).optional(),
  tcbLevels: z.array(z.unknown()).min(1),
});
const QeIdentitySchema = z.object({
  id: z.enum(['QE', 'TD_QE', 'QVE']),
  version: z.literal(2),
  issueDate: date,
  nextUpdate: date,
  tcbEvaluationDataNumber: z.number().int().min(0),
  miscselect: hex(4),
  miscselectMask: hex(4),
  attributes: hex(16),
  attributesMask: hex(16),
  mrsigner: hex(32),
  isvprodid: z.number().int().min(0).max(0xffff),
  tcbLevels: z.array(IsvLevel).min(1),
});

/** One platform TCB level, normalized. */
export interface TcbLevel {
  sgxComponents: number[];
  pceSvn: number;
  /** 16 TDX components (TDX TCB Info only). */
  tdxComponents?: number[];
  tcbDate: string;
  status: IntelTcbStatus;
  advisoryIds: string[];
}

/** One ISV-SVN level (QE identity or TDX module identity). */
export interface IsvTcbLevel {
  isvSvn: number;
  tcbDate: string;
  status: IntelTcbStatus;
  advisoryIds: string[];
}

/** A parsed TCB Info. Hex fields are lowercase; dates are unix seconds. */
export interface TcbInfo {
  id: 'SGX' | 'TDX';
  version: 2 | 3;
  issueDate: number;
  nextUpdate: number;
  fmspc: string;
  pceId: string;
  tcbEvaluationDataNumber: number;
  tdxModule?: { mrsigner: string; attributes: string; attributesMask: string };
  tdxModuleIdentities?: Array<{ id: string; mrsigner: string; attributes: string; attributesMask: string; levels: IsvTcbLevel[] }>;
  levels: TcbLevel[];
}

/** A parsed Enclave Identity (QE or TD_QE). */
export interface QeIdentity {
  id: 'QE' | 'TD_QE' | 'QVE';
  issueDate: number;
  nextUpdate: number;
  tcbEvaluationDataNumber: number;
  miscselect: number;
  miscselectMask: number;
  attributes: string;
  attributesMask: string;
  mrsigner: string;
  isvProdId: number;
  levels: IsvTcbLevel[];
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CollateralInvalidError(`${what} is not JSON`);
  }
}

function issue(e: z.ZodError, what: string): never {
  const i = e.issues[0]!;
  throw new CollateralInvalidError(`${what} ${i.path.join('.') || '(root)'}: ${i.message}`);
}

const isvLevel = (l: z.infer<typeof IsvLevel>): IsvTcbLevel => ({
  isvSvn: l.tcb.isvsvn,
  tcbDate: l.tcbDate,
  status: l.tcbStatus,
  advisoryIds: l.advisoryIDs ?? [],
});

/** Parses the exact signed `tcbInfo` JSON text. Throws `CollateralInvalidError`. */
export function parseTcbInfo(text: string): TcbInfo {
  const r = TcbInfoSchema.safeParse(parseJson(text, 'TCB Info'));
  if (!r.success) issue(r.error, 'TCB Info');
  const t = r.data;
  const levels: TcbLevel[] = t.tcbLevels.map((raw, i) => {
    if (t.version === 3) {
      const l = TcbLevelV3.safeParse(raw);
      if (!l.success) issue(l.error, `TCB Info tcbLevels.${i}`);
      const d = l.data;
      if (t.id === 'TDX' && !d.tcb.tdxtcbcomponents) throw new CollateralInvalidError(`TDX TCB Info level ${i} has no tdxtcbcomponents`);
      return {
        sgxComponents: d.tcb.sgxtcbcomponents.map((c) => c.svn),
        pceSvn: d.tcb.pcesvn,
        ...(d.tcb.tdxtcbcomponents ? { tdxComponents: d.tcb.tdxtcbcomponents.map((c) => c.svn) } : {}),
        tcbDate: d.tcbDate,
        status: d.tcbStatus,
        advisoryIds: d.advisoryIDs ?? [],
      };
    }
    const l = TcbLevelV2.safeParse(raw);
    if (!l.success) issue(l.error, `TCB Info tcbLevels.${i}`);
    const tcb = l.data.tcb;
    const sgx: number[] = [];
    for (let k = 1; k <= 16; k++) {
      const v = tcb[`sgxtcbcomp${String(k).padStart(2, '0')}svn`];
      if (v === undefined || v > 255) throw new CollateralInvalidError(`TCB Info v2 level ${i} lacks component ${k}`);
      sgx.push(v);
    }
    if (tcb.pcesvn === undefined) throw new CollateralInvalidError(`TCB Info v2 level ${i} lacks pcesvn`);
    return { sgxComponents: sgx, pceSvn: tcb.pcesvn, tcbDate: l.data.tcbDate, status: l.data.tcbStatus, advisoryIds: l.data.advisoryIDs ?? [] };
  });
  if (t.id === 'TDX' && (t.version !== 3 || !t.tdxModule)) throw new CollateralInvalidError('TDX TCB Info must be v3 with tdxModule');
  return {
    id: t.id,
    version: t.version,
    issueDate: t.issueDate,
    nextUpdate: t.nextUpdate,
    fmspc: t.fmspc,
    pceId: t.pceId,
    tcbEvaluationDataNumber: t.tcbEvaluationDataNumber,
    ...(t.tdxModule ? { tdxModule: t.tdxModule } : {}),
    ...(t.tdxModuleIdentities
      ? {
          tdxModuleIdentities: t.tdxModuleIdentities.map((m) => ({
            id: m.id,
            mrsigner: m.mrsigner,
            attributes: m.attributes,
            attributesMask: m.attributesMask,
            levels: m.tcbLevels.map(isvLevel),
          })),
        }
      : {}),
    levels,
  };
}

/** Parses the exact signed `enclaveIdentity` JSON text. Throws `CollateralInvalidError`. */
export function parseQeIdentity(text: string): QeIdentity {
  const r = QeIdentitySchema.safeParse(parseJson(text, 'QE Identity'));
  if (!r.success) issue(r.error, 'QE Identity');
  const q = r.data;
  return {
    id: q.id,
    issueDate: q.issueDate,
    nextUpdate: q.nextUpdate,
    tcbEvaluationDataNumber: q.tcbEvaluationDataNumber,
    miscselect: parseInt(q.miscselect, 16) >>> 0,
    miscselectMask: parseInt(q.miscselectMask, 16) >>> 0,
    attributes: q.attributes,
    attributesMask: q.attributesMask,
    mrsigner: q.mrsigner,
    isvProdId: q.isvprodid,
    levels: q.tcbLevels.map(isvLevel),
  };
}

/** The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1). */
export interface PckExtensions {
  ppid: string;
  /** CPUSVN components 1..16. */
  compSvns: number[];
  pceSvn: number;
  cpuSvn: string;
  pceId: string;
  fmspc: string;
  /** 0 = Standard, 1 = Scalable, 2 = Scalable with integrity. */
  sgxType?: number;
}

export const OID_SGX_EXTENSIONS = '1.2.840.113741.1.13.1';

/** Reads the SGX extension of a PCK leaf certificate. Throws `PckChainInvalidError` if absent or malformed. */
export function parsePckExtensions(cert: Certificate): PckExtensions {
  const ext = cert.extensions.get(OID_SGX_EXTENSIONS);
  if (!ext) throw new PckChainInvalidError('PCK certificate has no Intel SGX extension');
  try {
    const fields = new Map<string, Tlv>();
    for (const entry of children(readWhole(ext.value, TAG.SEQUENCE))) {
      const [oid, value] = children(entry);
      if (!oid || oid.tag !== TAG.OID || !value) throw new Error('bad SGX extension entry');
      fields.set(decodeOid(oid.value), value);
    }
    const get = (sub: string, tag: number): Tlv => {
      const v = fields.get(`${OID_SGX_EXTENSIONS}.${sub}`);
      if (!v || v.tag !== tag) throw new Error(`SGX extension .${sub} missing`);
      return v;
    };
    const tcb = new Map<string, Tlv>();
    for (const entry of children(get('2', TAG.SEQUENCE))) {
      const [oid, value] = children(entry);
      if (!oid || oid.tag !== TAG.OID || !value) throw new Error('bad TCB entry');
      tcb.set(decodeOid(oid.value), value);
    }
    const tcbInt = (n: number): number => {
      const v = tcb.get(`${OID_SGX_EXTENSIONS}.2.${n}`);
      if (!v || v.tag !== TAG.INTEGER) throw new Error(`TCB component ${n} missing`);
      return decodeSmallUint(v.value);
    };
    const compSvns = Array.from({ length: 16 }, (_, i) => tcbInt(i + 1));
    if (compSvns.some((s) => s > 255)) throw new Error('component SVN out of range');
    const cpuSvn = tcb.get(`${OID_SGX_EXTENSIONS}.2.18`);
    const fmspc = get('4', TAG.OCTET_STRING).value;
    const pceId = get('3', TAG.OCTET_STRING).value;
    if (fmspc.length !== 6 || pceId.length !== 2) throw new Error('bad FMSPC or PCE-ID length');
    const sgxType = fields.get(`${OID_SGX_EXTENSIONS}.5`);
    return {
      ppid: toHex(get('1', TAG.OCTET_STRING).value),
      compSvns,
      pceSvn: tcbInt(17),
      cpuSvn: cpuSvn && cpuSvn.tag === TAG.OCTET_STRING ? toHex(cpuSvn.value) : '',
      pceId: toHex(pceId),
      fmspc: toHex(fmspc),
      ...(sgxType && sgxType.tag === TAG.ENUMERATED ? { sgxType: decodeSmallUint(sgxType.value) } : {}),
    };
  } catch (e) {
    throw new PckChainInvalidError(`PCK certificate SGX extension is malformed: ${(e as Error).message}`, { cause: e });
  }
}

/** A TCB status with its advisory IDs. */
export interface StatusResult {
  status: IntelTcbStatus;
  advisoryIds: string[];
}

/**
 * First platform level the PCK cert's SVNs (and, for TDX, TEE_TCB_SVN) meet.
 * TDX: as Intel's QVL, when TEE_TCB_SVN[1] (module major version) is non-zero,
 * components 0 and 1 are checked by the TDX module identity instead.
 * Throws `TcbNoMatchError` when no level matches.
 */
export function matchPlatformLevel(info: TcbInfo, pck: PckExtensions, teeTcbSvn?: Uint8Array): TcbLevel {
  for (const level of info.levels) {
    if (!level.sgxComponents.every((s, i) => pck.compSvns[i]! >= s)) continue;
    if (pck.pceSvn < level.pceSvn) continue;
    if (teeTcbSvn) {
      const tdx = level.tdxComponents;
      if (!tdx) continue;
      const start = info.version >= 3 && teeTcbSvn[1]! > 0 ? 2 : 0;
      let ok = true;
      for (let i = start; i < 16; i++) if (teeTcbSvn[i]! < tdx[i]!) ok = false;
      if (!ok) continue;
    }
    return level;
  }
  throw new TcbNoMatchError(
    `no matching TCB level found for FMSPC ${pck.fmspc} (PCK comp SVNs ${pck.compSvns.join(',')}, PCESVN ${pck.pceSvn}` +
      (teeTcbSvn ? `, TEE_TCB_SVN ${toHex(teeTcbSvn)})` : ')'),
  );
}

function maskedEqual(actualHex: string, expectedHex: string, maskHex: string): boolean {
  if (actualHex.length !== expectedHex.length || actualHex.length !== maskHex.length) return false;
  for (let i = 0; i < actualHex.length; i += 2) {
    const m = parseInt(maskHex.slice(i, i + 2), 16);
    if ((parseInt(actualHex.slice(i, i + 2), 16) & m) !== (parseInt(expectedHex.slice(i, i + 2), 16) & m)) return false;
  }
  return true;
}

/**
 * TDX module check: MRSIGNERSEAM and masked SEAM_ATTRIBUTES against `tdxModule`
 * (module major version 0) or `tdxModuleIdentities["TDX_%02X"]`, then the
 * module's TCB level by TEE_TCB_SVN[0]. Returns undefined when there is no
 * separate module status (major version 0 or TCB Info without identities).
 */
export function matchTdxModule(info: TcbInfo, td: TdReportBody): StatusResult | undefined {
  const mrSignerSeam = toHex(td.mrSignerSeam);
  const seamAttributes = toHex(td.seamAttributes);
  const major = td.teeTcbSvn[1]!;
  const minorSvn = td.teeTcbSvn[0]!;
  if (major === 0 || !info.tdxModuleIdentities) {
    const m = info.tdxModule;
    if (!m) throw new CollateralInvalidError('TDX TCB Info has no tdxModule');
    if (m.mrsigner !== mrSignerSeam || !maskedEqual(seamAttributes, m.attributes, m.attributesMask)) {
      throw new TdxModuleMismatchError(`TDX module signer ${mrSignerSeam} / attributes ${seamAttributes} do not match TCB Info`);
    }
    return undefined;
  }
  const id = `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`;
  const ident = info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
  if (!ident) throw new TcbNoMatchError(`TCB Info has no TDX module identity ${id}`);
  if (ident.mrsigner !== mrSignerSeam || !maskedEqual(seamAttributes, ident.attributes, ident.attributesMask)) {
    throw new TdxModuleMismatchError(`TDX module signer ${mrSignerSeam} / attributes ${seamAttributes} do not match ${id}`);
  }
  const level = ident.levels.find((l) => minorSvn >= l.isvSvn);
  if (!level) throw new TcbNoMatchError(`no TCB level of ${id} matches TDX module SVN ${minorSvn}`);
  return { status: level.status, advisoryIds: level.advisoryIds };
}

/**
 * QE Identity check: MRSIGNER, ISVPRODID, masked MISCSELECT and ATTRIBUTES must
 * match (`QeIdentityMismatchError`), then the first level with
 * QE ISVSVN >= isvsvn gives the QE status (`TcbNoMatchError` if none).
 */
export function matchQeIdentity(qe: QeIdentity, report: SgxReportBody): StatusResult {
  if (toHex(report.mrSigner) !== qe.mrsigner) throw new QeIdentityMismatchError(`QE MRSIGNER ${toHex(report.mrSigner)} is not ${qe.mrsigner}`);
  if (report.isvProdId !== qe.isvProdId) throw new QeIdentityMismatchError(`QE ISVPRODID ${report.isvProdId} is not ${qe.isvProdId}`);
  if (((report.miscSelect & qe.miscselectMask) >>> 0) !== ((qe.miscselect & qe.miscselectMask) >>> 0)) {
    throw new QeIdentityMismatchError('QE MISCSELECT does not match the QE Identity');
  }
  if (!maskedEqual(toHex(report.attributes), qe.attributes, qe.attributesMask)) {
    throw new QeIdentityMismatchError('QE ATTRIBUTES do not match the QE Identity');
  }
  const level = qe.levels.find((l) => report.isvSvn >= l.isvSvn);
  if (!level) throw new TcbNoMatchError(`no QE Identity level matches QE ISVSVN ${report.isvSvn}`);
  return { status: level.status, advisoryIds: level.advisoryIds };
}

/**
 * Intel QVL's convergence of the platform status with a QE or TDX module
 * status: an OutOfDate component turns UpToDate/SWHardeningNeeded into
 * OutOfDate and the Configuration* statuses into OutOfDateConfigurationNeeded;
 * Revoked wins; otherwise the platform status stands. Advisories are unioned.
 */
export function convergeStatus(platform: StatusResult, other: StatusResult | undefined): StatusResult {
  if (!other) return platform;
  const advisoryIds = [...new Set([...platform.advisoryIds, ...other.advisoryIds])];
  let status = platform.status;
  if (other.status === 'Revoked') status = 'Revoked';
  else if (other.status === 'OutOfDate' || other.status === 'OutOfDateConfigurationNeeded') {
    if (status === 'UpToDate' || status === 'SWHardeningNeeded') status = 'OutOfDate';
    else if (status === 'ConfigurationNeeded' || status === 'ConfigurationAndSWHardeningNeeded') status = 'OutOfDateConfigurationNeeded';
  }
  return { status, advisoryIds };
}
