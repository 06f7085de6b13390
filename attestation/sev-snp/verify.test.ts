import { describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { toBase64, toHex } from '../util/bytes.ts';
import { parseSnpCert, pemCertificates } from './cert.ts';
import { normalizeSnpCollateral, type SnpCollateral } from './collateral.ts';
import { SNP_REPORT_SIZE, SNP_SIGNED_LENGTH } from './abi.ts';
import { verifySnpCaChain, verifySnpCertChain, verifySnpReport } from './verify.ts';
import { NOW_2025, NOW_GENOA, goReport, goVcek, virteeReport, virteeVcek, genoaReport, genoaVcek, chainPem , unix, S } from './samples.testkit.ts';


const toPem = (der: Uint8Array) =>
  `-----BEGIN CERTIFICATE-----\n${toBase64(der).replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;

async function rejection(p: Promise<unknown>): Promise<AttestationError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AttestationError) return e;
    throw new Error(`rejected with a non-AttestationError: ${String(e)}`, { cause: e });
  }
  throw new Error('expected a rejection, but verification passed');
}

describe('SOURCES.md expected outcomes', () => {
  it('go-sev-guest TestRealAttestationVerification happy path: Milan report + vcek.testcer verify', async () => {
    const r = await verifySnpReport(goReport(), { vcek: goVcek(), certChain: chainPem('milan') }, { now: NOW_2025 });
    expect(r.product).toBe('Milan');
    expect(r.signingKey).toBe('vcek');
    expect(r.reportedTcb).toMatchObject({ bootloader: 2, tee: 0, snp: 5, microcode: 68 });
    expect(r.verdict.kind).toBe('sev-snp');
    expect(r.verdict.tcbStatus).toBe('UpToDate');
    expect(toHex(r.verdict.reportData).startsWith('0102030405')).toBe(true);
    expect(r.verdict.measurements.measurement).toBe(toHex(r.report.measurement));
    // No policy: the earliest notAfter is the VCEK's, 2029-09-24T00:55:28Z.
    expect(r.verdict.expiresAt).toBe(unix('2029-09-24T00:55:28Z'));
    // Also with only the VCEK (pinned ASK/ARK).
    await expect(verifySnpReport(goReport(), goVcek(), { now: NOW_2025 })).resolves.toBeDefined();
  });

  it('go-sev-guest product stepping: Milan stepping 0 passes, stepping 12 fails', async () => {
    const collateral = { vcek: goVcek(), certChain: chainPem('milan') };
    const ok = await verifySnpReport(goReport(), collateral, {
      now: NOW_2025,
      expectedProduct: { name: 'Milan', stepping: 0 },
    });
    expect(ok.stepping).toBe(0);
    const e = await rejection(
      verifySnpReport(goReport(), collateral, { now: NOW_2025, expectedProduct: { name: 'Milan', stepping: 12 } }),
    );
    expect(e.code).toBe('SNP_PRODUCT_MISMATCH');
    expect(e.message).toBe('expected product stepping 12, got 0');
    const e2 = await rejection(
      verifySnpReport(goReport(), collateral, { now: NOW_2025, expectedProduct: { name: 'Genoa' } }),
    );
    expect(e2.code).toBe('SNP_PRODUCT_MISMATCH');
    // Genoa v3: the stepping comes from CPUID_STEP (1); its VCEK productName has none.
    const genoa = await verifySnpReport(genoaReport(), genoaVcek(), {
      now: NOW_GENOA,
      expectedProduct: { name: 'Genoa', stepping: 1 },
    });
    expect(genoa.stepping).toBe(1);
  });

  it('virtee milan_report: report + vcek_milan + builtin ASK/ARK verify', async () => {
    const collateral = {
      vcek: virteeVcek(),
      ask: readSampleText(S + 'virtee-sev/builtin_milan_ask.pem'),
      ark: readSampleText(S + 'virtee-sev/builtin_milan_ark.pem'),
    };
    const r = await verifySnpReport(virteeReport(), collateral, { now: NOW_2025 });
    expect(r.product).toBe('Milan');
    expect(r.reportedTcb).toMatchObject({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });
  });

  it('virtee milan_report_invalid (report_bytes[21] ^= 0x80) is rejected', async () => {
    const bad = virteeReport();
    bad[21]! ^= 0x80;
    const e = await rejection(verifySnpReport(bad, { vcek: virteeVcek() }, { now: NOW_2025 }));
    expect(e.code).toBe('QUOTE_SIGNATURE_INVALID');
  });

  it('virtee milan_chain / milan_ca_stack / turin_ca_stack: the ASK/ARK stacks verify', async () => {
    for (const [p, ask, ark] of [
      ['Milan', 'builtin_milan_ask.pem', 'builtin_milan_ark.pem'],
      ['Genoa', 'builtin_genoa_ask.pem', 'builtin_genoa_ark.pem'],
      ['Turin', 'builtin_turin_ask.pem', 'builtin_turin_ark.pem'],
    ] as const) {
      const r = await verifySnpCaChain(
        [readSampleText(S + 'virtee-sev/' + ask), readSampleText(S + 'virtee-sev/' + ark)],
        { now: NOW_2025 },
      );
      expect(r.product).toBe(p);
      expect(r.kind).toBe('vcek');
    }
    const milan = await verifySnpCertChain(virteeVcek(), chainPem('milan'), { now: NOW_2025 });
    expect(milan.product).toBe('Milan');
    expect(toHex(milan.hwId!)).toBe(toHex(virteeReport().subarray(0x1a0, 0x1e0)));
  });

  it('Turin VCEK (8-byte hwID, fmcSPL) verifies to the Turin ARK and decodes the Turin TCB', async () => {
    const r = await verifySnpCertChain(readSample(S + 'virtee-sev/vcek_turin.der'), chainPem('turin_vcek'), {
      now: NOW_2025,
    });
    expect(r.product).toBe('Turin');
    expect(r.kind).toBe('vcek');
    expect(r.hwId!.length).toBe(8);
    expect(toHex(r.hwId!)).toBe('1e550a8ee5cf9f4d');
    expect(r.tcb).toMatchObject({ fmc: 0, bootloader: 0, tee: 0, snp: 0, microcode: 9 });
    // And with the pinned Turin ASK/ARK.
    await expect(
      verifySnpCertChain(readSample(S + 'virtee-sev/vcek_turin.der'), undefined, { now: NOW_2025 }),
    ).resolves.toMatchObject({ product: 'Turin' });
  });

  it('VLEK chains (ASVK <- ARK) for Milan, Genoa and Turin verify', async () => {
    for (const [name, p] of [
      ['milan_vlek', 'Milan'],
      ['genoa_vlek', 'Genoa'],
      ['turin_vlek', 'Turin'],
    ] as const) {
      const r = await verifySnpCaChain(chainPem(name), { now: NOW_2025 });
      expect(r.product).toBe(p);
      expect(r.kind).toBe('vlek');
      expect(r.intermediate.subjectCn).toBe(`SEV-VLEK-${p}`);
    }
    for (const [name, p] of [
      ['milan', 'Milan'],
      ['genoa', 'Genoa'],
      ['turin_vcek', 'Turin'],
    ] as const) {
      await expect(verifySnpCaChain(chainPem(name), { now: NOW_2025 })).resolves.toMatchObject({
        product: p,
        kind: 'vcek',
      });
    }
  });

  it('teep Genoa v3 report: signature verified, chain valid (AMD root CA)', async () => {
    const r = await verifySnpReport(genoaReport(), { vcek: genoaVcek(), certChain: chainPem('genoa') }, {
      now: NOW_GENOA,
    });
    expect(r.product).toBe('Genoa');
    expect(r.report.version).toBe(3);
    expect(r.reportedTcb).toMatchObject({ bootloader: 10, tee: 0, snp: 23, microcode: 84 });
    expect(r.verdict.details).toMatchObject({ product: 'Genoa', cpuid: { family: 0x19, model: 0x11, stepping: 1 } });
  });

  it('every VCEK here has serial number 0 and is accepted', () => {
    for (const der of [goVcek(), virteeVcek(), genoaVcek(), readSample(S + 'virtee-sev/vcek_turin.der')]) {
      const c = parseSnpCert(der);
      expect(toHex(c.serial)).toBe('00');
      expect(c.subjectCn).toBe('SEV-VCEK');
    }
  });
});

describe('tampering', () => {
  const samples = [
    { name: 'virtee Milan v2', report: virteeReport, collateral: () => ({ vcek: virteeVcek() }), now: NOW_2025 },
    { name: 'teep Genoa v3', report: genoaReport, collateral: () => ({ vcek: genoaVcek() }), now: NOW_GENOA },
  ];
  for (const s of samples) {
    it(`flipping any byte of the signed region or the signature of ${s.name} is rejected`, async () => {
      const original = s.report();
      const collateral = s.collateral();
      await verifySnpReport(original, collateral, { now: s.now }); // the untouched report passes
      const codes = new Map<string, number>();
      let passed = 0;
      for (const mask of [0x01, 0xff]) {
        for (let i = 0; i < SNP_REPORT_SIZE; i++) {
          const bad = original.slice();
          bad[i]! ^= mask;
          try {
            await verifySnpReport(bad, collateral, { now: s.now });
            passed++;
          } catch (e) {
            if (!(e instanceof AttestationError)) throw new Error(`byte ${i}: non-AttestationError ${String(e)}`);
            codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
          }
        }
      }
      expect(passed).toBe(0);
      expect([...codes.values()].reduce((a, b) => a + b, 0)).toBe(2 * SNP_REPORT_SIZE);
      expect(codes.get('QUOTE_SIGNATURE_INVALID')).toBeGreaterThan(SNP_SIGNED_LENGTH);
    });
  }

  it('truncated, empty and random input is rejected with AttestationError', async () => {
    const collateral = { vcek: virteeVcek() };
    const full = virteeReport();
    let seed = 7;
    const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0) >>> 24;
    const inputs = [
      new Uint8Array(0),
      full.subarray(0, 1),
      full.subarray(0, SNP_SIGNED_LENGTH),
      full.subarray(0, SNP_REPORT_SIZE - 1),
      ...Array.from({ length: 20 }, (_, i) => Uint8Array.from({ length: i % 2 ? SNP_REPORT_SIZE : i * 37 }, rnd)),
    ];
    for (const input of inputs) {
      const e = await rejection(verifySnpReport(input, collateral, { now: NOW_2025 }));
      expect(e.code).toMatch(/^[A-Z_]+$/);
    }
  });

  it('a CHIP_ID that is not the VCEK hwID is rejected (SNP_KEY_MISMATCH)', async () => {
    // go-sev-guest report with the virtee VCEK: valid chain, other chip.
    const e = await rejection(verifySnpReport(goReport(), { vcek: virteeVcek() }, { now: NOW_2025 }));
    expect(e.code).toBe('SNP_KEY_MISMATCH');
    expect(e.message).toMatch(/hwID/);
    const bad = goReport();
    bad[0x1a0 + 5]! ^= 1;
    expect((await rejection(verifySnpReport(bad, { vcek: goVcek() }, { now: NOW_2025 }))).code).toBe(
      'SNP_KEY_MISMATCH',
    );
  });

  it('a REPORTED_TCB that is not the VCEK TCB is rejected (SNP_KEY_MISMATCH)', async () => {
    const bad = goReport();
    bad[0x180 + 7] = 69; // microcode 68 -> 69
    const e = await rejection(verifySnpReport(bad, { vcek: goVcek() }, { now: NOW_2025 }));
    expect(e.code).toBe('SNP_KEY_MISMATCH');
    expect(e.message).toMatch(/TCB/);
  });

  it('a report whose SIGNING_KEY says VLEK needs a VLEK (COLLATERAL_UNAVAILABLE)', async () => {
    const bad = goReport();
    bad[0x48] = 1 << 2;
    expect((await rejection(verifySnpReport(bad, { vcek: goVcek() }, { now: NOW_2025 }))).code).toBe(
      'COLLATERAL_UNAVAILABLE',
    );
  });
});

describe('chain and validity', () => {
  const goVcekCert = () => parseSnpCert(goVcek());

  it('is rejected before the chain window opens and after it closes', async () => {
    const { notBefore, notAfter } = goVcekCert();
    expect(notBefore).toBe(unix('2022-09-24T00:55:28Z'));
    const collateral = { vcek: goVcek(), certChain: chainPem('milan') };
    await expect(verifySnpReport(goReport(), collateral, { now: notBefore })).resolves.toBeDefined();
    await expect(verifySnpReport(goReport(), collateral, { now: notAfter })).resolves.toBeDefined();
    expect((await rejection(verifySnpReport(goReport(), collateral, { now: notBefore - 1 }))).code).toBe(
      'CERT_NOT_YET_VALID',
    );
    expect((await rejection(verifySnpReport(goReport(), collateral, { now: notAfter + 1 }))).code).toBe(
      'CERT_EXPIRED',
    );
    // Genoa: one second before the VCEK was issued.
    expect(
      (await rejection(verifySnpReport(genoaReport(), { vcek: genoaVcek() }, { now: unix('2026-06-28T02:12:46Z') })))
        .code,
    ).toBe('CERT_NOT_YET_VALID');
    // The ARK window closes too (Milan ARK: 2045-10-22).
    expect((await rejection(verifySnpCaChain(chainPem('milan'), { now: unix('2045-10-23T00:00:00Z') }))).code).toBe(
      'CERT_EXPIRED',
    );
  });

  it('rejects a chain for the wrong product (CERT_CHAIN_INVALID)', async () => {
    for (const wrong of ['genoa', 'turin_vcek', 'milan_vlek', 'genoa_vlek']) {
      const e = await rejection(
        verifySnpReport(goReport(), { vcek: goVcek(), certChain: chainPem(wrong) }, { now: NOW_2025 }),
      );
      expect(e.code, wrong).toBe('CERT_CHAIN_INVALID');
    }
    // Genoa VCEK with the Milan chain.
    const e = await rejection(
      verifySnpReport(genoaReport(), { vcek: genoaVcek(), certChain: chainPem('milan') }, { now: NOW_GENOA }),
    );
    expect(e.code).toBe('CERT_CHAIN_INVALID');
    // Right ASK, wrong ARK.
    const [milanAsk] = pemCertificates(chainPem('milan'));
    const [, genoaArk] = pemCertificates(chainPem('genoa'));
    expect(
      (await rejection(verifySnpReport(goReport(), { vcek: goVcek(), ask: milanAsk, ark: genoaArk }, { now: NOW_2025 })))
        .code,
    ).toBe('CERT_CHAIN_INVALID');
  });

  it('rejects a forged ARK (self-signed with the pinned name but another key) and tampered certificates', async () => {
    const [ask, ark] = pemCertificates(chainPem('milan'));
    // Flip a byte inside the ARK's modulus: its SPKI no longer matches the pinned key.
    const badArk = ark!.slice();
    badArk[500]! ^= 1;
    expect(
      (await rejection(verifySnpReport(goReport(), { vcek: goVcek(), ask, ark: badArk }, { now: NOW_2025 }))).code,
    ).toMatch(/^(CERT_CHAIN_INVALID|COLLATERAL_INVALID)$/);
    // Flip a byte in the ASK's issuer name, its public key, and its signature.
    for (const at of [206, 600, ask!.length - 20]) {
      const badAsk = ask!.slice();
      badAsk[at]! ^= 1;
      expect(
        (await rejection(verifySnpReport(goReport(), { vcek: goVcek(), ask: badAsk, ark }, { now: NOW_2025 }))).code,
      ).toMatch(/^(CERT_CHAIN_INVALID|COLLATERAL_INVALID)$/);
    }
    // A modified ARK whose names no longer match is not taken as a root; the pinned ARK is used instead.
    const renamedArk = ark!.slice();
    renamedArk[300]! ^= 1;
    await expect(
      verifySnpReport(goReport(), { vcek: goVcek(), ask, ark: renamedArk }, { now: NOW_2025 }),
    ).resolves.toMatchObject({ product: 'Milan' });
    // Flip a byte in the VCEK's TBS (subject key) and in its signature.
    for (const at of [400, goVcek().length - 10]) {
      const badVcek = goVcek().slice();
      badVcek[at]! ^= 1;
      expect(
        (await rejection(verifySnpReport(goReport(), { vcek: badVcek }, { now: NOW_2025 }))).code,
      ).toMatch(/^(CERT_CHAIN_INVALID|COLLATERAL_INVALID|COLLATERAL_UNAVAILABLE)$/);
    }
  });

  it('fails closed without a VCEK (COLLATERAL_UNAVAILABLE)', async () => {
    for (const c of [undefined, null, {}, { certChain: chainPem('milan') }, { vcek: '' }]) {
      expect((await rejection(verifySnpReport(goReport(), c, { now: NOW_2025 }))).code).toBe('COLLATERAL_UNAVAILABLE');
    }
    for (const c of [42, { vcek: 42 }, { vcek: '-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----' }]) {
      expect((await rejection(verifySnpReport(goReport(), c, { now: NOW_2025 }))).code).toBe('COLLATERAL_INVALID');
    }
    // Oversized collateral.
    const many = { vcek: goVcek(), certChain: Array.from({ length: 9 }, () => chainPem('milan')).join('') };
    expect((await rejection(verifySnpReport(goReport(), many, { now: NOW_2025 }))).code).toBe('COLLATERAL_INVALID');
    // A chain certificate in the VCEK field is not a VCEK.
    const [ask] = pemCertificates(chainPem('milan'));
    expect((await rejection(verifySnpReport(goReport(), { vcek: ask }, { now: NOW_2025 }))).code).toBe(
      'COLLATERAL_UNAVAILABLE',
    );
  });
});

describe('collateral shapes', () => {
  const shapes: Array<[string, () => unknown]> = [
    ['DER bytes', () => goVcek()],
    ['base64 DER', () => toBase64(goVcek())],
    ['PEM', () => toPem(goVcek())],
    ['PEM bundle VCEK+ASK+ARK', () => toPem(goVcek()) + chainPem('milan')],
    ['SnpCollateral with PEM chain', () => ({ vcek: toPem(goVcek()), certChain: chainPem('milan') }) satisfies SnpCollateral],
    ['SnpCollateral with chain array', () => ({ vcek: goVcek(), certChain: pemCertificates(chainPem('milan')) })],
    ['go-sev-guest style', () => ({ vcekCert: toBase64(goVcek()), askCert: chainPem('milan') })],
    ['snake case', () => ({ vcek_cert: toBase64(goVcek()), cert_chain: chainPem('milan') })],
  ];
  for (const [name, make] of shapes) {
    it(`accepts ${name}`, async () => {
      const r = await verifySnpReport(goReport(), make(), { now: NOW_2025 });
      expect(r.product).toBe('Milan');
    });
  }

  it('normalizes a PEM bundle into leaf and chain', () => {
    const n = normalizeSnpCollateral(toPem(goVcek()) + chainPem('milan'));
    expect(n.leaves.length).toBe(1);
    expect(n.chain.length).toBe(2);
  });
});
