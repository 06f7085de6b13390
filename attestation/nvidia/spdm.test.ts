import { describe, expect, it } from 'vitest';
import { readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { parsePolicy } from '../policy.ts';
import { digest, fromBase64, fromHex, toBase64, toHex } from '../util/bytes.ts';
import { diceFwids, parseCert, pemToDer } from './certs.ts';
import {
  NVIDIA_DEVICE_ROOT_PEM,
  NVIDIA_DEVICE_ROOT_SHA256,
  OpaqueField,
  nvidiaSpdmVerifier,
  parseSpdmReport,
  verifySpdmEvidence,
  verifySpdmReport,
} from './index.ts';

/** Any time works: every certificate in these chains is valid until 9999. */
const NOW = 1_782_698_883;

const NVTRUST_REPORT = fromHex(readSampleText('nvidia/nvtrust/hopperAttestationReport.txt').trim());
const NVTRUST_CHAIN = readSampleText('nvidia/nvtrust/hopperCertChain.txt');
const NVTRUST_NONCE = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';

type Entry = { arch: string; certificate: string; evidence: string; nonce?: string };
const SDK = JSON.parse(readSampleText('nvidia/attestation-sdk/hopper_evidence.json')) as Entry[];
const SDK_NONCE = 'e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576';
const HOLD = JSON.parse(readSampleText('nvidia/attestation-sdk/hopper_evidence_cert_hold.json')) as Entry[];
const HOLD_NONCE = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';
const EIGHT = JSON.parse(readSampleText('nvidia/nvtrust/gpu_evidence.json')) as Entry[];
const EIGHT_NONCE = '4760e30534a0621357d458b1a7936551b5dc4cd1e69718adf7ed9fb0252a537e';
const TEEP = JSON.parse(readSampleText('nvidia/teep-agpl/nras_v3_attest_gpu.request.json')) as {
  nonce: string;
  evidence_list: Entry[];
};
const TEEP_NONCE = '080c405ce6789e1761445180029523df3ae49576043f7f0868413a38e5e9a84e';

async function rejectsWith(p: Promise<unknown>, codes: string[]): Promise<AttestationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected one of ${codes.join(', ')}`).toBeInstanceOf(AttestationError);
  expect(codes).toContain((err as AttestationError).code);
  return err as AttestationError;
}

describe('NVIDIA SPDM evidence: recorded samples (SOURCES.md, HELPER-VERIFIED signature + chain)', () => {
  it('pins the NVIDIA Device Identity CA exactly as nvtrust ships it', async () => {
    const shipped = pemToDer(readSampleText('nvidia/nvtrust/verifier_device_root.pem'))[0]!;
    const pinned = pemToDer(NVIDIA_DEVICE_ROOT_PEM)[0]!;
    expect(toHex(pinned)).toBe(toHex(shipped));
    expect(toHex(await digest('SHA-256', pinned))).toBe(NVIDIA_DEVICE_ROOT_SHA256);
  });

  it('parses the nvtrust sample: SPDM 1.1, 64 DMTF blocks, request nonce 931d8dd0…', () => {
    const r = parseSpdmReport(NVTRUST_REPORT);
    expect(r.version).toBe(0x11);
    expect(toHex(r.requestNonce)).toBe(NVTRUST_NONCE);
    expect(r.blocks).toHaveLength(64);
    expect(r.blocks.every((b) => b.value.length === 48)).toBe(true);
    expect(r.signature).toHaveLength(96);
    expect(r.signed.length + 96).toBe(NVTRUST_REPORT.length);
    expect(new TextDecoder().decode(r.opaque.get(OpaqueField.DRIVER_VERSION)!)).toBe('550.90.07\0');
  });

  it('verifies the nvtrust sample (hex report + PEM chain) with nonce 931d8dd0…', async () => {
    const g = await verifySpdmReport(NVTRUST_REPORT, NVTRUST_CHAIN, { nonce: NVTRUST_NONCE, now: NOW });
    expect(g.leafSubject).toBe('GH100 A01 GSP FMC LF');
    expect(g.driverVersion).toBe('550.90.07');
    expect(g.vbiosVersion).toBe('96.00.9F.00.01');
    expect([g.project, g.projectSku, g.chipSku]).toEqual(['1010', '0200', '882']);
    expect(Object.keys(g.measurements)).toHaveLength(64);
    expect(g.measurements['1']).toBe('00'.repeat(48));
    expect(g.measurements['2']!.startsWith('8048dfd18fe229bf16eb')).toBe(true);
    // FWID in the opaque data is the one the leaf certificate carries.
    expect(diceFwids(parseCert(pemToDer(NVTRUST_CHAIN)[0]!))).toEqual([g.fwid]);
    // The same through the generic entry point (nvtrust file shapes).
    const { gpus } = await verifySpdmEvidence(
      { report: toHex(NVTRUST_REPORT), certChain: NVTRUST_CHAIN },
      { nonce: fromHex(NVTRUST_NONCE), now: NOW },
    );
    expect(gpus[0]!.measurements).toEqual(g.measurements);
  });

  it('does not accept nvtrust config.py BaseSettings.NONCE (4cff7f53…) for the sample', async () => {
    await rejectsWith(
      verifySpdmReport(NVTRUST_REPORT, NVTRUST_CHAIN, {
        nonce: '4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e',
        now: NOW,
      }),
      ['NONCE_MISMATCH'],
    );
  });

  it('verifies attestation-sdk hopper_evidence.json with nonce e97b23a1… (offline part of NVAT_RC_OK)', async () => {
    const { gpus } = await verifySpdmEvidence(SDK, { nonce: SDK_NONCE, now: NOW });
    expect(gpus).toHaveLength(1);
    expect(gpus[0]).toMatchObject({ arch: 'HOPPER', driverVersion: '590.12', vbiosVersion: '96.00.A5.00.01' });
  });

  it('verifies hopper_evidence_cert_hold.json offline (signature + chain; the revoked RIM needs OCSP)', async () => {
    const { gpus } = await verifySpdmEvidence(HOLD, { nonce: HOLD_NONCE, now: NOW });
    expect(gpus[0]).toMatchObject({ driverVersion: '570.86.10' });
  });

  it('verifies all 8 GPUs of nvtrust gpu_evidence.json with nonce 4760e305…', async () => {
    const { gpus } = await verifySpdmEvidence(EIGHT, { nonce: EIGHT_NONCE, now: NOW });
    expect(gpus).toHaveLength(8);
    expect(new Set(gpus.map((g) => g.deviceId)).size).toBe(8);
    expect(gpus.every((g) => g.driverVersion === '590.12')).toBe(true);
  });

  it('verifies the teep NRAS request evidence ({evidence_list}) with its request nonce', async () => {
    expect(TEEP.nonce).toBe(TEEP_NONCE);
    const { gpus } = await verifySpdmEvidence(TEEP, { nonce: TEEP_NONCE, now: NOW });
    expect(gpus[0]).toMatchObject({ driverVersion: '595.71.05', vbiosVersion: '96.00.D9.00.02' });
    // And as JSON text.
    await verifySpdmEvidence(JSON.stringify(TEEP), { nonce: TEEP_NONCE, now: NOW });
  });

  it('the GpuVerifier never crashes on garbage and rejects a wrong nonce', async () => {
    const policy = parsePolicy({ gpu: { spdm: {} } });
    for (const g of [null, 1, 'x', [], {}, [{}], { evidence_list: [null] }]) {
      const e = await nvidiaSpdmVerifier.verify(g, fromHex(SDK_NONCE), { policy, now: NOW }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(AttestationError);
    }
    const e = await nvidiaSpdmVerifier.verify(SDK, fromHex(SDK_NONCE).slice(0, 31), { policy, now: NOW }).catch((err: unknown) => err);
    expect((e as AttestationError).code).toBe('NONCE_MISMATCH');
  });

  it('is refused unless the policy has a gpu.spdm section', async () => {
    const e = await nvidiaSpdmVerifier.verify(SDK, fromHex(SDK_NONCE), { policy: parsePolicy({}), now: NOW }).catch((err: unknown) => err);
    expect((e as AttestationError).code).toBe('KIND_NOT_ALLOWED');
  });

  it('checks GPU measurements against the policy allowlist', async () => {
    const open = parsePolicy({ gpu: { spdm: {} } });
    const v = await nvidiaSpdmVerifier.verify(SDK, fromHex(SDK_NONCE), { policy: open, now: NOW });
    const actual = v.gpus[0]!.measurements!;
    const pinned = parsePolicy({ gpu: { spdm: { measurements: [{ '2': actual['2']!, '5': actual['5']! }] } } });
    await nvidiaSpdmVerifier.verify(SDK, fromHex(SDK_NONCE), { policy: pinned, now: NOW });
    const wrong = parsePolicy({ gpu: { spdm: { measurements: [{ '2': '00'.repeat(48) }] } } });
    const e = await nvidiaSpdmVerifier.verify(SDK, fromHex(SDK_NONCE), { policy: wrong, now: NOW }).catch((err: unknown) => err);
    expect((e as AttestationError).code).toBe('MEASUREMENT_NOT_ALLOWED');
  });

  it('works as the nvidia-spdm GpuVerifier', async () => {
    const policy = parsePolicy({ gpu: { spdm: {} } });
    const v = await nvidiaSpdmVerifier.verify(SDK, fromHex(SDK_NONCE), { policy, now: NOW });
    expect(v.kind).toBe('nvidia-spdm');
    expect(toHex(v.nonce)).toBe(SDK_NONCE);
    expect(v.expiresAt).toBe(NOW + policy.maxVerdictSeconds);
    expect(v.gpus).toHaveLength(1);
    expect(v.gpus[0]!.id).toBe('72CA27239F0E96F6535F73AF84EB1542471A17B2');
    expect(v.gpus[0]!.model).toBe('HOPPER GH100 A01 GSP FMC LF');
    expect(Object.keys(v.gpus[0]!.measurements!)).toHaveLength(64);
  });
});

describe('NVIDIA SPDM evidence: rejections', () => {
  it('rejects wrong nonces, including a prefix of the right one', async () => {
    for (const nonce of ['00'.repeat(32), NVTRUST_NONCE.slice(0, 8), NVTRUST_NONCE.slice(0, 62), NVTRUST_NONCE + '00', '']) {
      await rejectsWith(verifySpdmReport(NVTRUST_REPORT, NVTRUST_CHAIN, { nonce, now: NOW }), ['NONCE_MISMATCH']);
    }
    await rejectsWith(
      verifySpdmReport(NVTRUST_REPORT, NVTRUST_CHAIN, { nonce: fromHex(NVTRUST_NONCE).slice(0, 16), now: NOW }),
      ['NONCE_MISMATCH'],
    );
    // One GPU of eight with another nonce fails the whole set.
    const mixed = [...EIGHT.slice(0, 2), SDK[0]!];
    await rejectsWith(verifySpdmEvidence(mixed, { nonce: EIGHT_NONCE, now: NOW }), ['NONCE_MISMATCH']);
  });

  it('rejects every single-byte flip in the signed region and in the signature', async () => {
    const { signed } = parseSpdmReport(NVTRUST_REPORT);
    const total = NVTRUST_REPORT.length;
    let checked = 0;
    for (let i = 0; i < total; i++) {
      const bad = NVTRUST_REPORT.slice();
      bad[i] = bad[i]! ^ (1 << (i % 8));
      const err = await verifySpdmReport(bad, NVTRUST_CHAIN, { nonce: NVTRUST_NONCE, now: NOW }).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!(err instanceof AttestationError)) throw new Error(`flip at ${i} (signed=${i < signed.length}) gave ${String(err)}`);
      expect(['SPDM_SIGNATURE_INVALID', 'MALFORMED_EVIDENCE', 'UNSUPPORTED_FORMAT']).toContain(err.code);
      checked++;
    }
    expect(checked).toBe(total);
  }, 120_000);

  it('rejects every truncation and trailing bytes without crashing', async () => {
    for (let n = 0; n < NVTRUST_REPORT.length; n += n < 64 ? 1 : 37) {
      await rejectsWith(verifySpdmReport(NVTRUST_REPORT.slice(0, n), NVTRUST_CHAIN, { nonce: NVTRUST_NONCE, now: NOW }), [
        'MALFORMED_EVIDENCE',
        'UNSUPPORTED_FORMAT',
      ]);
    }
    const longer = new Uint8Array(NVTRUST_REPORT.length + 1);
    longer.set(NVTRUST_REPORT);
    await rejectsWith(verifySpdmReport(longer, NVTRUST_CHAIN, { nonce: NVTRUST_NONCE, now: NOW }), ['MALFORMED_EVIDENCE']);
  });

  it('rejects evidence with another GPU\'s certificate chain', async () => {
    const otherChain = new TextDecoder().decode(fromBase64(EIGHT[1]!.certificate));
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, otherChain, { nonce: NVTRUST_NONCE, now: NOW }), [
      'SPDM_SIGNATURE_INVALID',
    ]);
  });

  it('rejects chains that do not lead to the pinned root', async () => {
    const ders = pemToDer(NVTRUST_CHAIN);
    const opts = { nonce: NVTRUST_NONCE, now: NOW };
    // Intermediate missing.
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, [ders[0]!, ders[2]!, ders[3]!, ders[4]!], opts), ['CERT_CHAIN_INVALID']);
    // Reordered (the first certificate is not the signing leaf, then the order is wrong).
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, [ders[1]!, ders[0]!, ders[2]!, ders[3]!, ders[4]!], opts), [
      'SPDM_SIGNATURE_INVALID',
    ]);
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, [ders[0]!, ders[2]!, ders[1]!, ders[3]!, ders[4]!], opts), [
      'CERT_CHAIN_INVALID',
    ]);
    // Leaf only (its issuer is not the root).
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, [ders[0]!], opts), ['CERT_CHAIN_INVALID']);
    // Root that is not NVIDIA's: use the leaf's own issuer as the anchor.
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, ders, { ...opts, root: ders[3]! }), ['CERT_CHAIN_INVALID']);
    // A byte flipped inside an intermediate's signature.
    const tampered = ders.map((d) => d.slice());
    const ica = tampered[2]!;
    ica[ica.length - 5] = ica[ica.length - 5]! ^ 1;
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, tampered, opts), ['CERT_CHAIN_INVALID', 'MALFORMED_EVIDENCE']);
    // Without the root appended the chain still verifies (root is pinned).
    await verifySpdmReport(NVTRUST_REPORT, ders.slice(0, 4), opts);
  });

  it('rejects certificates outside their validity at the evaluation time', async () => {
    // The provisioner ICA is valid from 2022-03-01.
    await rejectsWith(verifySpdmReport(NVTRUST_REPORT, NVTRUST_CHAIN, { nonce: NVTRUST_NONCE, now: 1_640_995_200 }), [
      'CERT_NOT_YET_VALID',
    ]);
  });

  it('rejects unsupported architectures and SPDM versions', async () => {
    await rejectsWith(verifySpdmEvidence([{ ...SDK[0]!, arch: 'BLACKWELL' }], { nonce: SDK_NONCE, now: NOW }), [
      'UNSUPPORTED_FORMAT',
    ]);
    for (const v of [0x10, 0x12, 0x13]) {
      const other = NVTRUST_REPORT.slice();
      other[0] = v;
      await rejectsWith(verifySpdmReport(other, NVTRUST_CHAIN, { nonce: NVTRUST_NONCE, now: NOW }), ['UNSUPPORTED_FORMAT']);
    }
  });

  it('never crashes on garbage: always an AttestationError', async () => {
    const good = SDK[0]!;
    const garbage: unknown[] = [
      null,
      undefined,
      0,
      '',
      '{',
      'null',
      [],
      {},
      [null],
      [1, 2],
      { evidence_list: [] },
      { evidences: 'x' },
      [{ ...good, evidence: 5 }],
      [{ ...good, evidence: '!!!' }],
      [{ ...good, evidence: '' }],
      [{ ...good, certificate: undefined }],
      [{ ...good, certificate: 'not pem' }],
      [{ ...good, certificate: toBase64(new TextEncoder().encode('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')) }],
      [{ ...good, certificate: toBase64(new Uint8Array([0xff, 0xfe, 0x00])) }],
      [{ ...good, certificate: [] }],
      [{ ...good, arch: 7 }],
      [{ ...good, evidence: toBase64(new Uint8Array(5000)) }],
      [{ ...good, evidence: toBase64(new Uint8Array(100_000)) }],
      new Array(65).fill(good),
      { report: 'zz', certChain: NVTRUST_CHAIN },
    ];
    for (const g of garbage) {
      const err = await verifySpdmEvidence(g, { nonce: SDK_NONCE, now: NOW }).then(
        () => 'accepted',
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(g)?.slice(0, 100)).toBeInstanceOf(AttestationError);
    }
    // Random bytes behind a valid request header.
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let k = 0; k < 200; k++) {
      const b = new Uint8Array(37 + (k * 31) % 4200);
      for (let i = 0; i < b.length; i++) b[i] = rnd();
      b.set(NVTRUST_REPORT.subarray(0, Math.min(37 + (k % 12), b.length)));
      const err = await verifySpdmReport(b, NVTRUST_CHAIN, { nonce: NVTRUST_NONCE, now: NOW }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationError);
    }
    // A garbage certificate DER.
    const err = await verifySpdmReport(NVTRUST_REPORT, [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])], {
      nonce: NVTRUST_NONCE,
      now: NOW,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AttestationError);
  });
});
