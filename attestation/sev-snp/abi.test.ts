import { describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { fromHex, toHex } from '../util/bytes.ts';
import {
  decodeTcb,
  encodeTcb,
  parseSnpReport,
  productFromCpuid,
  signingKeyOf,
  SNP_REPORT_SIZE,
  SnpGuestPolicyBits,
} from './abi.ts';

const goReport = () => readSample('sev-snp/go-sev-guest/attestation.bin');
const virteeReport = () => fromHex(readSampleText('sev-snp/virtee-sev/report_milan.hex').trim());
const genoaReport = () => readSample('sev-snp/teep-agpl/report_genoa_v3.bin');

function withVersion(bytes: Uint8Array, version: number): Uint8Array {
  const b = bytes.slice();
  new DataView(b.buffer).setUint32(0, version, true);
  return b;
}

describe('parseSnpReport', () => {
  it('parses the go-sev-guest Milan v2 report', () => {
    const r = parseSnpReport(goReport());
    expect(r.version).toBe(2);
    expect(r.policy).toBe(0xb0000n);
    expect(r.policy & SnpGuestPolicyBits.DEBUG).not.toBe(0n);
    expect(r.vmpl).toBe(0);
    expect(r.signatureAlgo).toBe(1);
    expect(signingKeyOf(r)).toBe('vcek');
    expect(toHex(r.reportData).startsWith('0102030405')).toBe(true);
    expect(r.cpuid).toBeUndefined();
    expect(r.launchMitVector).toBeUndefined();
    const tcb = decodeTcb(r.reportedTcb, 'Milan');
    expect([tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode]).toEqual([2, 0, 5, 68]);
    expect(toHex(r.chipId).startsWith('3ac3fe21')).toBe(true);
    expect(r.signed.length).toBe(0x2a0);
    expect(r.signatureRS.length).toBe(96);
  });

  it('parses the virtee Milan v2 report', () => {
    const r = parseSnpReport(virteeReport());
    expect(r.version).toBe(2);
    const tcb = decodeTcb(r.reportedTcb, 'Milan');
    expect([tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode]).toEqual([3, 0, 8, 115]);
  });

  it('parses the Genoa v3 report with CPUID family/model/stepping', () => {
    const r = parseSnpReport(genoaReport());
    expect(r.version).toBe(3);
    expect(r.cpuid).toEqual({ family: 0x19, model: 0x11, stepping: 1 });
    expect(productFromCpuid(r.cpuid!.family, r.cpuid!.model)).toBe('Genoa');
    const tcb = decodeTcb(r.reportedTcb, 'Genoa');
    expect([tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode]).toEqual([10, 0, 23, 84]);
    expect(r.currentVersion).toEqual({ major: 1, minor: 0x37, build: 0x28 });
  });

  it('reads the mitigation vectors from version 5 on, and newer versions by the fixed layout', () => {
    const v5 = withVersion(genoaReport(), 5);
    new DataView(v5.buffer).setBigUint64(0x1f8, 0x11n, true);
    new DataView(v5.buffer).setBigUint64(0x200, 0x22n, true);
    const r5 = parseSnpReport(v5);
    expect(r5.launchMitVector).toBe(0x11n);
    expect(r5.currentMitVector).toBe(0x22n);
    const r4 = parseSnpReport(withVersion(genoaReport(), 4));
    expect(r4.cpuid).toBeDefined();
    expect(r4.launchMitVector).toBeUndefined();
    const r9 = parseSnpReport(withVersion(genoaReport(), 9));
    expect(r9.version).toBe(9);
    expect(toHex(r9.measurement)).toBe(toHex(parseSnpReport(genoaReport()).measurement));
  });

  it('rejects unknown older versions', () => {
    for (const v of [0, 1]) {
      expect(() => parseSnpReport(withVersion(goReport(), v))).toThrow(
        expect.objectContaining({ code: 'UNSUPPORTED_FORMAT' }),
      );
    }
  });

  it('rejects truncated, empty, oversized and random input with AttestationError', () => {
    const full = goReport();
    const inputs: Uint8Array[] = [
      new Uint8Array(0),
      full.subarray(0, 4),
      full.subarray(0, 0x2a0),
      full.subarray(0, SNP_REPORT_SIZE - 1),
      new Uint8Array([...full, 0]),
    ];
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 50; i++) {
      const len = i % 2 ? SNP_REPORT_SIZE : rnd() * 8;
      inputs.push(Uint8Array.from({ length: len }, rnd));
    }
    for (const input of inputs) {
      let err: unknown;
      try {
        parseSnpReport(input);
      } catch (e) {
        err = e;
      }
      // Random 1184-byte inputs may parse (the layout is fixed); then the verifier rejects them.
      if (err !== undefined) expect(err).toBeInstanceOf(AttestationError);
      else expect(input.length).toBe(SNP_REPORT_SIZE);
    }
    expect(() => parseSnpReport(undefined as unknown as Uint8Array)).toThrow(AttestationError);
  });

  it('rejects a signature component wider than 384 bits and nonzero reserved signature bytes', () => {
    const a = goReport().slice();
    a[0x2a0 + 50] = 1;
    expect(() => parseSnpReport(a)).toThrow(expect.objectContaining({ code: 'MALFORMED_EVIDENCE' }));
    const b = goReport().slice();
    b[0x400] = 1;
    expect(() => parseSnpReport(b)).toThrow(expect.objectContaining({ code: 'MALFORMED_EVIDENCE' }));
  });
});

describe('TCB_VERSION encoding', () => {
  it('uses the Milan/Genoa layout (BL, TEE, ..., SNP, UCODE)', () => {
    const raw = 0x4405000000000002n; // ucode 0x44, snp 5, bl 2
    expect(decodeTcb(raw, 'Milan')).toEqual({ raw, bootloader: 2, tee: 0, snp: 5, microcode: 0x44 });
    expect(encodeTcb({ bootloader: 2, tee: 0, snp: 5, microcode: 0x44 }, 'Genoa')).toBe(raw);
  });

  it('uses the Turin layout (FMC, BL, TEE, SNP, ..., UCODE)', () => {
    const raw = encodeTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 9 }, 'Turin');
    expect(raw).toBe(0x0900000004030201n);
    expect(decodeTcb(raw, 'Turin')).toEqual({ raw, fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 9 });
  });

  it('maps CPUID family/model to products', () => {
    expect(productFromCpuid(0x19, 0x01)).toBe('Milan');
    expect(productFromCpuid(0x19, 0x11)).toBe('Genoa');
    expect(productFromCpuid(0x19, 0xa0)).toBe('Genoa');
    expect(productFromCpuid(0x1a, 0x02)).toBe('Turin');
    expect(productFromCpuid(0x17, 0x31)).toBeUndefined();
  });
});
