/**
 * `sealgate verify`, run as the real CLI (`node bin/sealgate.mjs verify …`)
 * on the real samples in ../shared/testdata/attestation (expected outcomes
 * from its SOURCES.md) and on adversarial inputs generated here.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reportDataFor, SimulatedTee, type BindingClaims } from '../attestation/index.ts';
import { toBase64, toHex } from '../attestation/util/bytes.ts';
import type { VerifyOutcome } from '../cli/verify.ts';
import { runCli, startCli } from './cli.ts';
import { ATTESTATION_TESTDATA, readSample, readSampleText } from './testdata.ts';

const T = ATTESTATION_TESTDATA;
const sample = (p: string) => join(T, p);

type Outcome = VerifyOutcome;

/** `sealgate verify <args>` as a child process. */
const run = (args: string[]) => runCli(['verify', ...args]);

/** Runs with --json, checks the exit code matches the verdict and that nothing crashed. */
async function verify(args: string[]): Promise<{ exit: number | null; out: Outcome; stderr: string }> {
  const r = await run([...args, '--json']);
  expect(r.stderr, 'no stack trace on stderr').not.toMatch(/\n\s+at |TypeError|RangeError|ReferenceError/);
  let out: Outcome;
  try {
    out = JSON.parse(r.stdout) as Outcome;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  expect(r.code).toBe(out.accepted ? 0 : 1);
  return { exit: r.code, out, stderr: r.stderr };
}

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sealgate-verify-'));
  dirs.push(d);
  return d;
}
function writeTmp(name: string, data: string | Uint8Array): string {
  const f = join(tmp(), name);
  writeFileSync(f, data);
  return f;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const TDX_QUOTE = 'tdx/dcap-qvl/tdx_quote';
const TDX_COLL = sample('tdx/dcap-qvl/tdx_quote_collateral.json');
const TDX_AT = 1752919234; // SOURCES.md: earliest nextUpdate - 1 s
const TDX_MRTD = '91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7';
/** Each case spawns the CLI (tsx start-up ~1.5 s of CPU) up to five times on a possibly loaded 2-core box. */
const SPAWN_TIMEOUT = 180_000;
const hasTeep = existsSync(sample('nvidia/teep-agpl/nras_v3_attest_gpu.response.json'));

describe.concurrent('sealgate verify: SOURCES.md outcomes', { timeout: SPAWN_TIMEOUT }, () => {
  it('dcap-qvl tdx_quote + collateral at 1752919234 is UpToDate with no advisories (exit 0)', async () => {
    const { out } = await verify([sample(TDX_QUOTE), '--collateral', TDX_COLL, '--at', String(TDX_AT)]);
    expect(out).toMatchObject({ accepted: true, kind: 'tdx', policyApplied: false });
    expect(out.verdict).toMatchObject({ kind: 'tdx', tcbStatus: 'UpToDate', advisoryIds: [], evaluatedAt: TDX_AT, expiresAt: 1752919235 });
    expect(out.verdict!.measurements.mrtd).toBe(TDX_MRTD);
    expect(out.verdict!.reportData).toMatch(/^[0-9a-f]{128}$/);
    expect(out.notes.join('\n')).toMatch(/no policy applied/);
  });

  it('the same quote before and after its collateral window is rejected', async () => {
    const before = await verify([sample(TDX_QUOTE), '--collateral', TDX_COLL, '--at', '1750329146']);
    expect(before.out).toMatchObject({ accepted: false, code: 'COLLATERAL_NOT_YET_VALID' });
    const after = await verify([sample(TDX_QUOTE), '--collateral', TDX_COLL, '--at', '1752919236']);
    expect(after.out).toMatchObject({ accepted: false, code: 'COLLATERAL_EXPIRED' });
    const years = await verify([sample(TDX_QUOTE), '--collateral', TDX_COLL]); // --at defaults to now
    expect(years.out.accepted).toBe(false);
    expect(['COLLATERAL_EXPIRED', 'CERT_EXPIRED'], years.out.reason).toContain(years.out.code);
  });

  it('human output is short and says ACCEPTED / no policy', async () => {
    const r = await run([sample(TDX_QUOTE), '--collateral', TDX_COLL, '--at', String(TDX_AT)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ACCEPTED {2}tdx {2}\(NO POLICY APPLIED\)/);
    expect(r.stdout).toContain(`mrtd            ${TDX_MRTD}`);
    expect(r.stdout.split('\n').length).toBeLessThan(30);
    const bad = await run([sample(TDX_QUOTE), '--collateral', TDX_COLL, '--at', '1752919236']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^REJECTED {2}tdx {2}\[COLLATERAL_EXPIRED\]/);
  });

  it('dcap-qvl tdx_quote_outdated: signatures pass but no TCB level matches (TCB_NO_MATCH)', async () => {
    const { out } = await verify([
      sample('tdx/dcap-qvl/tdx_quote_outdated'),
      '--collateral',
      sample('tdx/dcap-qvl/tdx_quote_outdated_collateral.json'),
      '--at',
      '1774003274',
    ]);
    expect(out).toMatchObject({ accepted: false, kind: 'tdx', code: 'TCB_NO_MATCH' });
  });

  it('dcap-qvl SGX quote: ConfigurationAndSWHardeningNeeded with its advisories, rejected without a policy', async () => {
    const { out } = await verify([
      sample('sgx/dcap-qvl/sgx_quote'),
      '--collateral',
      sample('sgx/dcap-qvl/sgx_quote_collateral.json'),
      '--at',
      '1752919277',
    ]);
    expect(out).toMatchObject({ accepted: false, kind: 'sgx', code: 'TCB_STATUS_REJECTED' });
    expect(out.verdict).toMatchObject({ tcbStatus: 'ConfigurationAndSWHardeningNeeded', advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'] });
  });

  it('go-tdx-guest SPR quote: NO_MATCH with its 2023 PCS collateral directory; chain-only without collateral', async () => {
    const withColl = await verify([
      sample('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat'),
      '--collateral',
      sample('tdx/go-tdx-guest'),
      '--at',
      '1688173200',
    ]);
    expect(withColl.out).toMatchObject({ accepted: false, code: 'TCB_NO_MATCH' });
    const bare = await verify([sample('tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat'), '--at', '1688173200']);
    expect(bare.out).toMatchObject({ accepted: false, code: 'COLLATERAL_UNAVAILABLE' });
    expect(bare.out.reason).toMatch(/signatures and the PCK chain verify/);
    expect(bare.out.verdict?.tcbStatus).toBe('Unknown');
  });

  it('automata TDX v4 with PCS files from two directories: OutOfDate with three advisories', async () => {
    const { out } = await verify([
      sample('tdx/automata/tdx_quote_v4_00806f050000.hex'),
      '--collateral',
      sample('tdx/automata'),
      '--collateral',
      sample('intel-common/automata'),
      '--at',
      '1749095100',
    ]);
    expect(out).toMatchObject({ accepted: false, code: 'TCB_STATUS_REJECTED' });
    expect(out.verdict).toMatchObject({
      tcbStatus: 'OutOfDate',
      advisoryIds: ['INTEL-SA-00960', 'INTEL-SA-00982', 'INTEL-SA-00986'],
      details: expect.objectContaining({ platformStatus: 'OutOfDate', qeStatus: 'UpToDate', tdxModuleStatus: 'UpToDate' }),
    });
  });

  it('go-sev-guest Milan report: signature and chain verify, but its guest policy has DEBUG set', async () => {
    const { out } = await verify([
      sample('sev-snp/go-sev-guest/attestation.bin'),
      '--collateral',
      sample('sev-snp/go-sev-guest/vcek.testcer'),
      '--at',
      String(TDX_AT),
    ]);
    expect(out).toMatchObject({ accepted: false, kind: 'sev-snp', code: 'DEBUG_ENABLED' });
    expect(out.verdict).toMatchObject({ tcbStatus: 'UpToDate', details: expect.objectContaining({ product: 'Milan', debug: true }) });
    expect(out.verdict!.reportData!.startsWith('0102030405')).toBe(true);
  });

  it('virtee Milan report (hex) with a directory holding two VCEKs and the builtin chains verifies (exit 0)', async () => {
    const { out } = await verify([sample('sev-snp/virtee-sev/report_milan.hex'), '--collateral', sample('sev-snp/virtee-sev'), '--at', String(TDX_AT)]);
    expect(out).toMatchObject({ accepted: true, kind: 'sev-snp' });
    expect(out.verdict).toMatchObject({ tcbStatus: 'UpToDate', details: expect.objectContaining({ product: 'Milan', debug: false }) });
    expect(out.verdict!.measurements.measurement).toMatch(/^[0-9a-f]{96}$/);
  });

  it('virtee milan_report_invalid (byte 21 ^= 0x80) fails the report signature; before the VCEK window fails the chain', async () => {
    const hex = readSampleText('sev-snp/virtee-sev/report_milan.hex').replace(/\s+/g, '');
    const bytes = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
    bytes[21]! ^= 0x80;
    const bad = await verify([writeTmp('milan-invalid.bin', bytes), '--collateral', sample('sev-snp/virtee-sev/vcek_milan.der'), '--at', String(TDX_AT)]);
    expect(bad.out).toMatchObject({ accepted: false, kind: 'sev-snp', code: 'QUOTE_SIGNATURE_INVALID' });
    const early = await verify([sample('sev-snp/virtee-sev/report_milan.hex'), '--collateral', sample('sev-snp/virtee-sev/vcek_milan.der'), '--at', '1577836800']);
    expect(early.out).toMatchObject({ accepted: false, code: 'CERT_NOT_YET_VALID' });
  });

  it('an SNP report without collateral fails closed (nothing is fetched)', async () => {
    const { out } = await verify([sample('sev-snp/virtee-sev/report_milan.hex'), '--at', String(TDX_AT)]);
    expect(out).toMatchObject({ accepted: false, kind: 'sev-snp', code: 'COLLATERAL_UNAVAILABLE' });
  });

  it('nvtrust raw SPDM report with its PEM chain verifies against its own request nonce, not against another', async () => {
    const nonce = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';
    const args = [sample('nvidia/nvtrust/hopperAttestationReport.txt'), '--collateral', sample('nvidia/nvtrust/hopperCertChain.txt'), '--at', String(TDX_AT)];
    const ok = await verify([...args, '--nonce', nonce]);
    expect(ok.out).toMatchObject({ accepted: true, kind: 'nvidia-spdm' });
    expect(ok.out.notes.join('\n')).toMatch(/not compared with NVIDIA RIMs/);
    const wrong = await verify([...args, '--nonce', '4cff7f53' + '00'.repeat(28)]);
    expect(wrong.out).toMatchObject({ accepted: false, code: 'NONCE_MISMATCH' });
  });

  it('nvtrust 8-GPU evidence list: verified against each report nonce; a policy needs a gpu.spdm section', async () => {
    const list = sample('nvidia/nvtrust/gpu_evidence.json');
    const noPolicy = await verify([list, '--at', String(TDX_AT)]);
    expect(noPolicy.out).toMatchObject({ accepted: true, kind: 'nvidia-spdm' });
    expect(noPolicy.out.verdict!.gpus).toHaveLength(8);
    expect(noPolicy.out.notes.join('\n')).toMatch(/freshness is NOT established/);
    const spdm = writeTmp('spdm-policy.json', JSON.stringify({ gpu: { spdm: {} } }));
    const none = writeTmp('no-spdm-policy.json', JSON.stringify({}));
    const [ok, refused] = await Promise.all([
      verify([list, '--at', String(TDX_AT), '--policy', spdm, '--nonce', '4760e30534a0621357d458b1a7936551b5dc4cd1e69718adf7ed9fb0252a537e']),
      verify([list, '--at', String(TDX_AT), '--policy', none]),
    ]);
    expect(ok.out).toMatchObject({ accepted: true, policyApplied: true });
    expect(refused.out).toMatchObject({ accepted: false, code: 'KIND_NOT_ALLOWED' });
  });

  it.skipIf(!hasTeep)('teep NRAS v3 EAT with the captured JWKS: accepted inside [iat, exp), rejected outside, wrong nonce rejected', async () => {
    const eat = sample('nvidia/teep-agpl/nras_v3_attest_gpu.response.json');
    const jwks = sample('nvidia/teep-agpl/nras_jwks_at_capture.json');
    const nonce = '080c405ce6789e1761445180029523df3ae49576043f7f0868413a38e5e9a84e';
    const ok = await verify([eat, '--collateral', jwks, '--nonce', nonce, '--at', '1782698883']);
    expect(ok.out).toMatchObject({ accepted: true, kind: 'nvidia-nras' });
    expect(ok.out.verdict!.gpus![0]).toMatchObject({ name: 'GPU-0', hwmodel: 'GH100' });
    const expired = await verify([eat, '--collateral', jwks, '--nonce', nonce, '--at', '1782702483']);
    expect(expired.out).toMatchObject({ accepted: false, code: 'EVIDENCE_EXPIRED' });
    const early = await verify([eat, '--collateral', jwks, '--nonce', nonce, '--at', String(1782698883 - 3600)]);
    expect(early.out).toMatchObject({ accepted: false, code: 'EVIDENCE_NOT_YET_VALID' });
    const wrong = await verify([eat, '--collateral', jwks, '--nonce', 'ff'.repeat(32), '--at', '1782698883']);
    expect(wrong.out).toMatchObject({ accepted: false, code: 'NONCE_MISMATCH' });
    const noJwks = await verify([eat, '--at', '1782698883']);
    expect(noJwks.out).toMatchObject({ accepted: false, code: 'COLLATERAL_UNAVAILABLE' });
  });

  it.skipIf(!hasTeep)('attestation-sdk NRAS EAT signed by a key not in the JWKS is rejected', async () => {
    const { out } = await verify([
      sample('nvidia/attestation-sdk/hopperClaimsv3_detached_eat.json'),
      '--collateral',
      sample('nvidia/teep-agpl/nras_jwks_at_capture.json'),
      '--at',
      '1749601858',
    ]);
    expect(out).toMatchObject({ accepted: false, kind: 'nvidia-nras', code: 'NRAS_SIGNATURE_INVALID' });
  });
});

describe.concurrent('sealgate verify: encodings', { timeout: SPAWN_TIMEOUT }, () => {
  it('binary, 0x-hex with line breaks, and wrapped base64 of the same quote give the same verdict', async () => {
    const bytes = readSample(TDX_QUOTE);
    const hex = '0x' + toHex(bytes).replace(/(.{120})/g, '$1\n  ');
    const b64 = toBase64(bytes).replace(/(.{76})/g, '$1\r\n');
    const args = ['--collateral', TDX_COLL, '--at', String(TDX_AT)];
    const [bin, h, b] = await Promise.all([
      verify([sample(TDX_QUOTE), ...args]),
      verify([writeTmp('quote.hex', hex + '\n'), ...args]),
      verify([writeTmp('quote.b64', b64), ...args]),
    ]);
    expect(bin.out.accepted).toBe(true);
    expect(h.out.verdict).toEqual(bin.out.verdict);
    expect(b.out.verdict).toEqual(bin.out.verdict);
  });
});

describe.concurrent('sealgate verify: adversarial inputs (exit 1 with a typed code, never a crash)', { timeout: SPAWN_TIMEOUT }, () => {
  const args = ['--collateral', TDX_COLL, '--at', String(TDX_AT)];

  it('one flipped byte in the signed TD report body: QUOTE_SIGNATURE_INVALID', async () => {
    const bytes = readSample(TDX_QUOTE).slice();
    bytes[48 + 136]! ^= 0x01; // first byte of MRTD
    const { out } = await verify([writeTmp('flipped', bytes), ...args]);
    expect(out).toMatchObject({ accepted: false, kind: 'tdx', code: 'QUOTE_SIGNATURE_INVALID' });
  });

  it('a truncated quote: MALFORMED_EVIDENCE', async () => {
    const { out } = await verify([writeTmp('truncated', readSample(TDX_QUOTE).slice(0, 2000)), ...args]);
    expect(out).toMatchObject({ accepted: false, code: 'MALFORMED_EVIDENCE' });
  });

  it('random bytes: UNSUPPORTED_FORMAT', async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(4096));
    bytes[0] = 0xff; // never a quote/report header by accident
    const { out } = await verify([writeTmp('random', bytes), ...args]);
    expect(out).toMatchObject({ accepted: false, kind: 'unknown', code: 'UNSUPPORTED_FORMAT' });
  });

  it('an empty file and a whitespace-only file: MALFORMED_EVIDENCE', async () => {
    const [a, b] = await Promise.all([verify([writeTmp('empty', ''), ...args]), verify([writeTmp('blank', ' \n\t\n'), ...args])]);
    expect(a.out).toMatchObject({ accepted: false, code: 'MALFORMED_EVIDENCE' });
    expect(b.out).toMatchObject({ accepted: false, code: 'MALFORMED_EVIDENCE' });
  });

  it('garbage JSON: MALFORMED_EVIDENCE; well-formed JSON of no known shape: UNSUPPORTED_FORMAT', async () => {
    const [a, b, c] = await Promise.all([
      verify([writeTmp('garbage.json', '{"version": 1, "tee": [1, 2,'), ...args]),
      verify([writeTmp('other.json', '{"hello": "world"}'), ...args]),
      verify([writeTmp('bundle-ish.json', '{"version": 2, "tee": {"kind": "tdx", "evidence": 7}, "binding": null}'), ...args]),
    ]);
    expect(a.out).toMatchObject({ accepted: false, code: 'MALFORMED_EVIDENCE' });
    expect(b.out).toMatchObject({ accepted: false, code: 'UNSUPPORTED_FORMAT' });
    expect(c.out).toMatchObject({ accepted: false, kind: 'bundle', code: 'MALFORMED_EVIDENCE' });
  });

  it('collateral for another platform (tdx_quote with the FMSPC 90c06f000000 collateral) is refused', async () => {
    const other = sample('tdx/dcap-qvl/tdx_quote_outdated_collateral.json');
    const { out } = await verify([sample(TDX_QUOTE), '--collateral', other, '--at', '1774003274']);
    expect(out).toMatchObject({ accepted: false, code: 'COLLATERAL_INVALID' });
  });

  it('a malformed collateral file is COLLATERAL_INVALID, a missing one a usage error', async () => {
    const broken = JSON.parse(readSampleText('tdx/dcap-qvl/tdx_quote_collateral.json')) as Record<string, string>;
    broken.tcb_info_signature = 'zz' + broken.tcb_info_signature!.slice(2);
    const bad = await verify([sample(TDX_QUOTE), '--collateral', writeTmp('coll.json', JSON.stringify(broken)), '--at', String(TDX_AT)]);
    expect(bad.out).toMatchObject({ accepted: false, code: 'COLLATERAL_INVALID' });
    const missing = await run([sample(TDX_QUOTE), '--collateral', join(tmp(), 'nope.json')]);
    expect(missing.code).toBe(2);
  });
});

/** A worker-style bundle from a simulated TEE, bound to `nonce`. */
async function simulatedBundle(nonce: string) {
  const tee = await SimulatedTee.create();
  const binding: BindingClaims = {
    keys: [{ use: 'hpke', alg: 'X25519', key: 'qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo' }],
    nonce,
    models: [{ id: 'sealgate-demo', digest: 'demo:sealgate-demo' }],
  };
  const bundle = { version: 1, tee: { kind: 'simulated', evidence: toBase64(tee.quote(await reportDataFor(binding))) }, binding };
  const policyJson = { allowSimulated: true, simulated: { measurements: [{ measurement: toHex(tee.measurement) }] } };
  return { bundle, policy: writeTmp('sim-policy.json', JSON.stringify(policyJson)), policyJson };
}

describe.concurrent('sealgate verify: evidence bundles', { timeout: SPAWN_TIMEOUT }, () => {
  const nonce = 'a1'.repeat(32);

  it('a simulated bundle verifies with an allowSimulated policy and its nonce, in every served shape', async () => {
    const { bundle, policy } = await simulatedBundle(nonce);
    const list = { object: 'list', data: [{ id: 'w1', evidence: { ...bundle, tee: { ...bundle.tee, evidence: 'AAAA' } } }, { id: 'w2', evidence: bundle }] };
    const [plain, registration, listed, ambiguous] = await Promise.all([
      verify([writeTmp('b.json', JSON.stringify(bundle)), '--policy', policy, '--nonce', nonce]),
      verify([writeTmp('reg.json', JSON.stringify({ url: 'http://127.0.0.1:1', bundle })), '--policy', policy, '--nonce', nonce]),
      verify([writeTmp('list.json', JSON.stringify(list)), '--policy', policy, '--nonce', nonce, '--worker', 'w2']),
      run([writeTmp('list2.json', JSON.stringify(list)), '--policy', policy, '--nonce', nonce]),
    ]);
    for (const r of [plain, registration, listed]) {
      expect(r.out).toMatchObject({ accepted: true, kind: 'bundle', policyApplied: true });
      expect(r.out.verdict).toMatchObject({ kind: 'simulated', tcbStatus: 'Simulated' });
    }
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/--worker/);
  });

  it('without --nonce the bundle nonce is used and the output says freshness is not shown', async () => {
    const { bundle, policy } = await simulatedBundle(nonce);
    const { out } = await verify([writeTmp('b.json', JSON.stringify(bundle)), '--policy', policy]);
    expect(out.accepted).toBe(true);
    expect(out.notes.join('\n')).toMatch(/bundle's own nonce a1a1.*freshness is NOT established/);
  });

  it('a wrong --nonce is NONCE_MISMATCH; a bundle whose binding nonce was rewritten is REPORT_DATA_MISMATCH', async () => {
    const { bundle, policy } = await simulatedBundle(nonce);
    const file = writeTmp('b.json', JSON.stringify(bundle));
    const other = 'b2'.repeat(32);
    const rewritten = writeTmp('rewritten.json', JSON.stringify({ ...bundle, binding: { ...bundle.binding, nonce: other } }));
    const [wrong, forged] = await Promise.all([
      verify([file, '--policy', policy, '--nonce', other]),
      verify([rewritten, '--policy', policy, '--nonce', other]),
    ]);
    expect(wrong.out).toMatchObject({ accepted: false, kind: 'bundle', code: 'NONCE_MISMATCH' });
    expect(forged.out).toMatchObject({ accepted: false, kind: 'bundle', code: 'REPORT_DATA_MISMATCH' });
  });

  it('GPU evidence in a bundle that is not bound to its report data is NONCE_MISMATCH', async () => {
    const { bundle, policyJson } = await simulatedBundle(nonce);
    const gpu = (JSON.parse(readSampleText('nvidia/nvtrust/gpu_evidence.json')) as unknown[])[0];
    const withGpu = { ...bundle, gpus: [{ kind: 'nvidia-spdm', evidence: [gpu] }] };
    const policy = writeTmp('gpu-policy.json', JSON.stringify({ ...policyJson, gpu: { spdm: {} } }));
    const { out } = await verify([writeTmp('gpu-bundle.json', JSON.stringify(withGpu)), '--policy', policy, '--nonce', nonce]);
    expect(out).toMatchObject({ accepted: false, kind: 'bundle', code: 'NONCE_MISMATCH' });
    expect(out.reason).toMatch(/SPDM request nonce/);
  });

  it('simulated evidence without a policy is SIMULATED_NOT_ALLOWED', async () => {
    const { bundle } = await simulatedBundle(nonce);
    const { out } = await verify([writeTmp('b.json', JSON.stringify(bundle)), '--nonce', nonce]);
    expect(out).toMatchObject({ accepted: false, code: 'SIMULATED_NOT_ALLOWED' });
  });

  it('GET /v1/workers of a running `sealgate dev` verifies with its dev policy; a wrong nonce does not', async () => {
    const dir = tmp();
    const dev = await startCli(['dev', '--demo-delay-ms', '0'], /base URL\s+(\S+)/, { PORT: '0', SEALGATE_DB: join(dir, 'sealgate.db') });
    try {
      const res = await fetch(`${dev.match[1]}/workers`);
      expect(res.status).toBe(200);
      const file = writeTmp('workers.json', await res.text());
      const policy = join(dir, 'dev-policy.json');
      const [ok, wrong] = await Promise.all([
        verify([file, '--policy', policy]),
        verify([file, '--policy', policy, '--nonce', 'c3'.repeat(32)]),
      ]);
      expect(ok.out).toMatchObject({ accepted: true, kind: 'bundle', policyApplied: true, verdict: { kind: 'simulated' } });
      expect(ok.out.notes.join('\n')).toMatch(/INSECURE/);
      expect(wrong.out).toMatchObject({ accepted: false, code: 'NONCE_MISMATCH' });
    } finally {
      dev.proc.kill('SIGINT');
      await dev.exited;
    }
  });

  it('a real SNP report presented for keys it does not bind (a lying gateway) is REPORT_DATA_MISMATCH', async () => {
    const hex = readSampleText('sev-snp/virtee-sev/report_milan.hex').replace(/\s+/g, '');
    const report = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
    const vcek = toBase64(readSample('sev-snp/virtee-sev/vcek_milan.der'));
    const { bundle: sim } = await simulatedBundle(nonce);
    const bundle = { ...sim, tee: { kind: 'sev-snp', evidence: toBase64(report), collateral: { vcek } } };
    const file = writeTmp('snp-bundle.json', JSON.stringify(bundle));
    const noPolicy = await verify([file, '--nonce', nonce, '--at', String(TDX_AT)]);
    expect(noPolicy.out).toMatchObject({ accepted: false, kind: 'bundle', code: 'REPORT_DATA_MISMATCH' });
    const policy = writeTmp('snp-policy.json', JSON.stringify({ sevSnp: { measurements: [{ measurement: 'ab'.repeat(48) }] } }));
    const withPolicy = await verify([file, '--nonce', nonce, '--at', String(TDX_AT), '--policy', policy]);
    expect(withPolicy.out.accepted).toBe(false);
    expect(['REPORT_DATA_MISMATCH', 'MEASUREMENT_NOT_ALLOWED']).toContain(withPolicy.out.code);
  });
});

describe.concurrent('sealgate verify: policies and usage', { timeout: SPAWN_TIMEOUT }, () => {
  it('a TDX policy allowing the quote MRTD accepts it; another MRTD is MEASUREMENT_NOT_ALLOWED; SGX is KIND_NOT_ALLOWED', async () => {
    const allow = writeTmp('p1.json', JSON.stringify({ tdx: { measurements: [{ mrtd: TDX_MRTD }] } }));
    const deny = writeTmp('p2.json', JSON.stringify({ tdx: { measurements: [{ mrtd: 'ee'.repeat(48) }] } }));
    const args = [sample(TDX_QUOTE), '--collateral', TDX_COLL, '--at', String(TDX_AT)];
    const [ok, no, sgx] = await Promise.all([
      verify([...args, '--policy', allow]),
      verify([...args, '--policy', deny]),
      verify([sample('sgx/dcap-qvl/sgx_quote'), '--collateral', sample('sgx/dcap-qvl/sgx_quote_collateral.json'), '--at', '1752919277', '--policy', allow]),
    ]);
    expect(ok.out).toMatchObject({ accepted: true, policyApplied: true, verdict: { tcbStatus: 'UpToDate' } });
    expect(ok.out.notes.join('\n')).not.toMatch(/no policy applied/);
    expect(no.out).toMatchObject({ accepted: false, code: 'MEASUREMENT_NOT_ALLOWED', verdict: { tcbStatus: 'UpToDate' } });
    expect(sgx.out).toMatchObject({ accepted: false, code: 'KIND_NOT_ALLOWED' });
  });

  it('--nonce on a raw quote is compared with its report data', async () => {
    const { out } = await verify([sample(TDX_QUOTE), '--collateral', TDX_COLL, '--at', String(TDX_AT), '--nonce', 'ab'.repeat(32)]);
    expect(out).toMatchObject({ accepted: false, code: 'REPORT_DATA_MISMATCH' });
  });

  it('usage errors exit 2: no file, bad flags, unreadable evidence, invalid policy', async () => {
    const policy = writeTmp('bad-policy.json', JSON.stringify({ tdx: { measurements: [] } }));
    const results = await Promise.all([
      run([]),
      run([sample(TDX_QUOTE), '--nonce', 'xyz']),
      run([sample(TDX_QUOTE), '--at', 'yesterday']),
      run([sample(TDX_QUOTE), '--bogus']),
      run([join(tmp(), 'missing.bin')]),
      run([sample(TDX_QUOTE), '--policy', policy]),
    ]);
    for (const r of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('sealgate verify');
  });
});
