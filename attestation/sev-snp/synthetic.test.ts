/**
 * End-to-end checks on reports and certificates this test makes itself, with
 * a throw-away AMD-like hierarchy (RSA-PSS ARK/ASK/ASVK, P-384 VCEK/VLEK).
 * They cover paths no real sample exercises: a VLEK-signed report, a Turin
 * report (8-byte hwID, FMC in the TCB), report version 5, MIGRATE_MA,
 * MASK_CHIP_KEY. Without `trustedRoots` every such chain must be rejected,
 * which also shows the ARK pinning: a forged "ARK-Milan" does not pass.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../policy.ts';
import { concatBytes, fromHex, toHex, utf8 } from '../util/bytes.ts';
import { encodeTcb, SnpGuestPolicyBits, type SnpProduct } from './abi.ts';
import { sevSnpVerifier } from './index.ts';
import { verifySnpReport, type SnpTrustedRootsByProduct } from './verify.ts';
import { codeOf } from '../testkit.ts';

// ------------------------------------------------------------ tiny DER writer

function derLen(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}
const tlv = (tag: number, ...parts: Uint8Array[]) => {
  const body = concatBytes(...parts);
  return concatBytes(new Uint8Array([tag, ...derLen(body.length)]), body);
};
const seq = (...p: Uint8Array[]) => tlv(0x30, ...p);
const int = (...bytes: number[]) => tlv(0x02, new Uint8Array(bytes));
function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const a of arcs.slice(2)) {
    const b: number[] = [];
    for (let v = a; ; v = Math.floor(v / 128)) {
      b.unshift((v & 0x7f) | (b.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...b);
  }
  return tlv(0x06, new Uint8Array(out));
}
const name = (cn: string) => seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, utf8(cn)))));
const utc = (iso: string) => tlv(0x17, utf8(iso.replace(/[-:T]/g, '').slice(2, 14) + 'Z'));
const ext = (id: string, value: Uint8Array) => seq(oid(id), tlv(0x04, value));
const PSS = fromHex(
  '3041' +
    '06092a864886f70d01010a' +
    '3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130',
);

async function makeCert(o: {
  issuer: string;
  subject: string;
  spki: Uint8Array;
  signer: CryptoKey;
  notBefore?: string;
  notAfter?: string;
  extensions?: Uint8Array[];
}): Promise<Uint8Array> {
  const tbs = seq(
    tlv(0xa0, int(2)),
    int(0), // serial 0, as on real VCEKs
    PSS,
    name(o.issuer),
    seq(utc(o.notBefore ?? '2020-01-01T00:00:00Z'), utc(o.notAfter ?? '2045-01-01T00:00:00Z')),
    name(o.subject),
    o.spki,
    ...(o.extensions ? [tlv(0xa3, seq(...o.extensions))] : []),
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign({ name: 'RSA-PSS', saltLength: 48 }, o.signer, tbs as Uint8Array<ArrayBuffer>),
  );
  return seq(tbs, PSS, tlv(0x03, new Uint8Array([0]), sig));
}

// ------------------------------------------------------------ hierarchy

const RSA = { name: 'RSA-PSS', hash: 'SHA-384', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
const spkiOf = async (k: CryptoKey) => new Uint8Array(await crypto.subtle.exportKey('spki', k));

interface Hierarchy {
  ark: Uint8Array;
  ask: Uint8Array;
  asvk: Uint8Array;
  askKey: CryptoKey;
  asvkKey: CryptoKey;
}

async function makeHierarchy(product: SnpProduct): Promise<Hierarchy> {
  const [arkK, askK, asvkK] = await Promise.all([0, 1, 2].map(() => crypto.subtle.generateKey(RSA, true, ['sign', 'verify'])));
  const arkName = `ARK-${product}`;
  return {
    ark: await makeCert({ issuer: arkName, subject: arkName, spki: await spkiOf(arkK!.publicKey), signer: arkK!.privateKey }),
    ask: await makeCert({ issuer: arkName, subject: `SEV-${product}`, spki: await spkiOf(askK!.publicKey), signer: arkK!.privateKey }),
    asvk: await makeCert({
      issuer: arkName,
      subject: `SEV-VLEK-${product}`,
      spki: await spkiOf(asvkK!.publicKey),
      signer: arkK!.privateKey,
    }),
    askKey: askK!.privateKey,
    asvkKey: asvkK!.privateKey,
  };
}

const CHIP_ID = fromHex('c1'.repeat(8) + '5a'.repeat(56));
const spl = (n: number) => int(n); // DER INTEGER for small values (< 0x80)

interface LeafSpec {
  product: SnpProduct;
  kind: 'vcek' | 'vlek';
  tcb: { bootloader: number; tee: number; snp: number; microcode: number; fmc?: number };
  hwId?: Uint8Array;
  omitTcb?: boolean;
}

async function makeLeaf(h: Hierarchy, spec: LeafSpec) {
  const key = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  const exts = [
    ext('1.3.6.1.4.1.3704.1.1', int(1)),
    ext('1.3.6.1.4.1.3704.1.2', tlv(0x16, utf8(spec.product === 'Turin' ? 'Turin' : `${spec.product}-B0`))),
    ...(spec.omitTcb ? [] : [ext('1.3.6.1.4.1.3704.1.3.1', spl(spec.tcb.bootloader))]),
    ext('1.3.6.1.4.1.3704.1.3.2', spl(spec.tcb.tee)),
    ext('1.3.6.1.4.1.3704.1.3.3', spl(spec.tcb.snp)),
    ext('1.3.6.1.4.1.3704.1.3.8', spl(spec.tcb.microcode)),
    ...(spec.tcb.fmc !== undefined ? [ext('1.3.6.1.4.1.3704.1.3.9', spl(spec.tcb.fmc))] : []),
    ...(spec.kind === 'vcek' ? [ext('1.3.6.1.4.1.3704.1.4', spec.hwId ?? CHIP_ID)] : []),
    ...(spec.kind === 'vlek' ? [ext('1.3.6.1.4.1.3704.1.5', tlv(0x16, utf8('example-csp')))] : []),
  ];
  const cert = await makeCert({
    issuer: spec.kind === 'vcek' ? `SEV-${spec.product}` : `SEV-VLEK-${spec.product}`,
    subject: spec.kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK',
    spki: await spkiOf(key.publicKey),
    signer: spec.kind === 'vcek' ? h.askKey : h.asvkKey,
    notBefore: '2024-01-01T00:00:00Z',
    notAfter: '2031-01-01T00:00:00Z',
    extensions: exts,
  });
  return { cert, key: key.privateKey };
}

interface ReportSpec {
  version?: number;
  policy?: bigint;
  vmpl?: number;
  signingKey?: number;
  flagsExtra?: number;
  tcb: bigint;
  cpuid?: [number, number, number];
  chipId?: Uint8Array;
}

const MEASUREMENT = 'ab'.repeat(48);

async function makeReport(signer: CryptoKey, r: ReportSpec): Promise<Uint8Array> {
  const b = new Uint8Array(0x4a0);
  const v = new DataView(b.buffer);
  v.setUint32(0x00, r.version ?? 3, true);
  v.setBigUint64(0x08, r.policy ?? 0x30000n, true);
  v.setUint32(0x30, r.vmpl ?? 0, true);
  v.setUint32(0x34, 1, true);
  v.setBigUint64(0x38, r.tcb, true);
  v.setBigUint64(0x40, 0n, true); // PLATFORM_INFO: SMT off
  v.setUint32(0x48, ((r.signingKey ?? 0) << 2) | (r.flagsExtra ?? 0), true);
  b.set(fromHex('5d'.repeat(64)), 0x50);
  b.set(fromHex(MEASUREMENT), 0x90);
  b.fill(0xff, 0x160, 0x180);
  v.setBigUint64(0x180, r.tcb, true);
  if (r.cpuid) b.set(r.cpuid, 0x188);
  b.set(r.chipId ?? CHIP_ID, 0x1a0);
  v.setBigUint64(0x1e0, r.tcb, true);
  v.setBigUint64(0x1f0, r.tcb, true);
  const sig = new Uint8Array(
    await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, signer, b.subarray(0, 0x2a0) as Uint8Array<ArrayBuffer>),
  );
  for (let i = 0; i < 48; i++) {
    b[0x2a0 + i] = sig[47 - i]!; // R little-endian
    b[0x2e8 + i] = sig[95 - i]!; // S little-endian
  }
  return b;
}

// ------------------------------------------------------------ tests

const NOW = Date.parse('2026-01-01T00:00:00Z') / 1000;
const policy = (extra: Record<string, unknown> = {}) =>
  parsePolicy({ sevSnp: { measurements: [{ measurement: MEASUREMENT }], ...extra } });


describe('synthetic AMD hierarchy', () => {
  let milan: Hierarchy;
  let turin: Hierarchy;
  let roots: SnpTrustedRootsByProduct;
  beforeAll(async () => {
    [milan, turin] = await Promise.all([makeHierarchy('Milan'), makeHierarchy('Turin')]);
    roots = {
      Milan: { ark: milan.ark, ask: milan.ask, asvk: milan.asvk },
      Turin: { ark: turin.ark, ask: turin.ask, asvk: turin.asvk },
    };
  }, 60_000);

  const milanTcb = { bootloader: 4, tee: 0, snp: 22, microcode: 0x50 };

  it('a forged ARK-Milan hierarchy is rejected against the pinned roots (CERT_CHAIN_INVALID)', async () => {
    const leaf = await makeLeaf(milan, { product: 'Milan', kind: 'vcek', tcb: milanTcb });
    const report = await makeReport(leaf.key, { version: 2, tcb: encodeTcb(milanTcb, 'Milan') });
    // Self-consistent forged chain in the collateral: the ARK key is not the pinned one.
    expect(await codeOf(verifySnpReport(report, { vcek: leaf.cert, ask: milan.ask, ark: milan.ark }, { now: NOW }))).toBe(
      'CERT_CHAIN_INVALID',
    );
    // No chain in the collateral: the pinned ASK did not sign this VCEK.
    expect(await codeOf(verifySnpReport(report, { vcek: leaf.cert }, { now: NOW }))).toBe('CERT_CHAIN_INVALID');
    // The same report passes when the test hierarchy is the trust anchor.
    expect(await codeOf(verifySnpReport(report, { vcek: leaf.cert }, { now: NOW, trustedRoots: roots }))).toBe('PASSED');
  });

  it('verifies a VLEK-signed report through the ASVK, and refuses it without a VLEK', async () => {
    const vlek = await makeLeaf(milan, { product: 'Milan', kind: 'vlek', tcb: milanTcb });
    const vcek = await makeLeaf(milan, { product: 'Milan', kind: 'vcek', tcb: milanTcb });
    const report = await makeReport(vlek.key, { tcb: encodeTcb(milanTcb, 'Milan'), signingKey: 1, cpuid: [0x19, 0x01, 1] });
    const r = await verifySnpReport(report, { vlek: vlek.cert }, { now: NOW, trustedRoots: roots, policy: policy() });
    expect(r.signingKey).toBe('vlek');
    expect(r.chain.intermediate.subjectCn).toBe('SEV-VLEK-Milan');
    expect(r.verdict.details).toMatchObject({ signingKey: 'vlek' });
    // With the KDS-style chain (ASVK then ARK) in the collateral.
    expect(
      await codeOf(verifySnpReport(report, { vlek: vlek.cert, certChain: [milan.asvk, milan.ark] }, { now: NOW, trustedRoots: roots })),
    ).toBe('PASSED');
    // VLEK with the ASK in its chain: no issuer for it.
    expect(
      await codeOf(verifySnpReport(report, { vlek: vlek.cert, certChain: [milan.ask, milan.ark] }, { now: NOW, trustedRoots: roots })),
    ).toBe('CERT_CHAIN_INVALID');
    // Only a VCEK offered for a VLEK-signed report.
    expect(await codeOf(verifySnpReport(report, { vcek: vcek.cert }, { now: NOW, trustedRoots: roots }))).toBe(
      'COLLATERAL_UNAVAILABLE',
    );
    // A VCEK-signed claim with a VLEK signature: wrong key.
    const claimsVcek = await makeReport(vlek.key, { tcb: encodeTcb(milanTcb, 'Milan'), signingKey: 0 });
    expect(await codeOf(verifySnpReport(claimsVcek, { vcek: vcek.cert, vlek: vlek.cert }, { now: NOW, trustedRoots: roots }))).toBe(
      'QUOTE_SIGNATURE_INVALID',
    );
  });

  it('verifies a Turin report: FMC in the TCB, 8-byte hwID', async () => {
    const tcb = { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 9 };
    const leaf = await makeLeaf(turin, { product: 'Turin', kind: 'vcek', tcb, hwId: CHIP_ID.slice(0, 8) });
    const report = await makeReport(leaf.key, { tcb: encodeTcb(tcb, 'Turin'), cpuid: [0x1a, 0x02, 1] });
    const r = await verifySnpReport(report, { vcek: leaf.cert }, { now: NOW, trustedRoots: roots, policy: policy() });
    expect(r.product).toBe('Turin');
    expect(r.reportedTcb).toMatchObject(tcb);
    // minTcb.fmc applies on Turin.
    expect(
      await codeOf(
        verifySnpReport(report, { vcek: leaf.cert }, {
          now: NOW,
          trustedRoots: roots,
          policy: policy({ minTcb: { fmc: 2, bootloader: 0, tee: 0, snp: 0, microcode: 0 } }),
        }),
      ),
    ).toBe('TCB_STATUS_REJECTED');
    // A report with the Milan TCB layout for the same values does not match the Turin VCEK.
    const milanLayout = await makeReport(leaf.key, { tcb: encodeTcb(tcb, 'Milan'), cpuid: [0x1a, 0x02, 1] });
    expect(await codeOf(verifySnpReport(milanLayout, { vcek: leaf.cert }, { now: NOW, trustedRoots: roots }))).toBe(
      'SNP_KEY_MISMATCH',
    );
    // Other first 8 bytes of CHIP_ID.
    const otherChip = CHIP_ID.slice();
    otherChip[3]! ^= 1;
    const wrongChip = await makeReport(leaf.key, { tcb: encodeTcb(tcb, 'Turin'), chipId: otherChip });
    expect(await codeOf(verifySnpReport(wrongChip, { vcek: leaf.cert }, { now: NOW, trustedRoots: roots }))).toBe(
      'SNP_KEY_MISMATCH',
    );
    // CPUID claims Genoa but the VCEK is Turin.
    const genoaCpuid = await makeReport(leaf.key, { tcb: encodeTcb(tcb, 'Turin'), cpuid: [0x19, 0x11, 1] });
    expect(await codeOf(verifySnpReport(genoaCpuid, { vcek: leaf.cert }, { now: NOW, trustedRoots: roots }))).toBe(
      'SNP_KEY_MISMATCH',
    );
  });

  it('accepts report version 5 and a newer version by the fixed layout', async () => {
    const leaf = await makeLeaf(milan, { product: 'Milan', kind: 'vcek', tcb: milanTcb });
    for (const version of [4, 5, 7]) {
      const report = await makeReport(leaf.key, { version, tcb: encodeTcb(milanTcb, 'Milan'), cpuid: [0x19, 0x01, 1] });
      const r = await verifySnpReport(report, { vcek: leaf.cert }, { now: NOW, trustedRoots: roots, policy: policy() });
      expect(r.report.version).toBe(version);
      expect(r.report.launchMitVector === undefined).toBe(version < 5);
    }
  });

  it('rejects MIGRATE_MA, DEBUG, a higher VMPL and MASK_CHIP_KEY end to end', async () => {
    const leaf = await makeLeaf(milan, { product: 'Milan', kind: 'vcek', tcb: milanTcb });
    const tcb = encodeTcb(milanTcb, 'Milan');
    const run = async (r: Partial<ReportSpec>, p = policy()) =>
      codeOf(
        sevSnpVerifier.verify(await makeReport(leaf.key, { tcb, ...r }), { vcek: leaf.cert }, { now: NOW, policy: p }),
      );
    // sevSnpVerifier uses the pinned roots only: even a well-formed synthetic report is refused.
    expect(await run({})).toBe('CERT_CHAIN_INVALID');
    const viaRoots = async (r: Partial<ReportSpec>, p = policy()) =>
      codeOf(
        verifySnpReport(await makeReport(leaf.key, { tcb, ...r }), { vcek: leaf.cert }, {
          now: NOW,
          policy: p,
          trustedRoots: roots,
        }),
      );
    expect(await viaRoots({})).toBe('PASSED');
    expect(await viaRoots({ policy: 0x30000n | SnpGuestPolicyBits.MIGRATE_MA })).toBe('ATTRIBUTES_REJECTED');
    expect(await viaRoots({ policy: 0x30000n | SnpGuestPolicyBits.MIGRATE_MA }, policy({ allowMigrationAgent: true }))).toBe(
      'PASSED',
    );
    expect(await viaRoots({ policy: 0x30000n | SnpGuestPolicyBits.DEBUG })).toBe('DEBUG_ENABLED');
    expect(await viaRoots({ vmpl: 2 })).toBe('ATTRIBUTES_REJECTED');
    expect(await viaRoots({ vmpl: 2 }, policy({ vmpl: [0, 2] }))).toBe('PASSED');
    expect(await viaRoots({ flagsExtra: 2 })).toBe('QUOTE_SIGNATURE_INVALID');
    expect(await viaRoots({ signingKey: 7 })).toBe('UNSUPPORTED_FORMAT');
    expect(toHex(CHIP_ID).length).toBe(128);
  });

  it('rejects a VCEK outside its validity window and a leaf whose TCB extensions are missing', async () => {
    const leaf = await makeLeaf(milan, { product: 'Milan', kind: 'vcek', tcb: milanTcb });
    const report = await makeReport(leaf.key, { tcb: encodeTcb(milanTcb, 'Milan') });
    const at = (iso: string) => verifySnpReport(report, { vcek: leaf.cert }, { now: Date.parse(iso) / 1000, trustedRoots: roots });
    expect(await codeOf(at('2023-12-31T23:59:59Z'))).toBe('CERT_NOT_YET_VALID');
    expect(await codeOf(at('2031-01-01T00:00:01Z'))).toBe('CERT_EXPIRED');
    expect(await codeOf(at('2031-01-01T00:00:00Z'))).toBe('PASSED');
    const noTcb = await makeLeaf(milan, { product: 'Milan', kind: 'vcek', tcb: milanTcb, omitTcb: true });
    const r2 = await makeReport(noTcb.key, { tcb: encodeTcb(milanTcb, 'Milan') });
    expect(await codeOf(verifySnpReport(r2, { vcek: noTcb.cert }, { now: NOW, trustedRoots: roots }))).toBe(
      'COLLATERAL_INVALID',
    );
  });
});
