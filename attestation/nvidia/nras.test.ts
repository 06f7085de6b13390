import { describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import { readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { parsePolicy } from '../policy.ts';
import { digest, fromHex, toHex, utf8 } from '../util/bytes.ts';
import {
  JwksCache,
  checkGpuClaims,
  checkJwkCertificate,
  checkSubmodDigests,
  createNrasVerifier,
  parseNrasResponse,
  verifyNrasToken,
  type Jwks,
} from './index.ts';

// teep-agpl capture (SOURCES.md, NVIDIA): verify at iat <= now < exp.
const TEEP_RESPONSE = JSON.parse(readSampleText('nvidia/teep-agpl/nras_v3_attest_gpu.response.json')) as [
  [string, string],
  Record<string, string>,
];
const TEEP_JWKS = JSON.parse(readSampleText('nvidia/teep-agpl/nras_jwks_at_capture.json')) as Jwks;
const TEEP_NONCE = '080c405ce6789e1761445180029523df3ae49576043f7f0868413a38e5e9a84e';
const TEEP_IAT = 1782698883;
const TEEP_EXP = 1782702483;
const TEEP_KID = 'nv-eat-kid-prod-20260628170000087-6f27a971-6e29-42d6-afb9-8e3fbb17fa25';

// attestation-sdk detached EAT: no JWKS published for its kid.
const SDK_RESPONSE = JSON.parse(readSampleText('nvidia/attestation-sdk/hopperClaimsv3_detached_eat.json')) as [
  [string, string],
  Record<string, string>,
];
const SDK_NONCE = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(AttestationError);
  expect((err as AttestationError).code).toBe(code);
}

function b64urlJson(v: unknown): string {
  return btoa(JSON.stringify(v)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodePayload(token: string): JWTPayload {
  const part = token.split('.')[1]!;
  return JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as JWTPayload;
}

describe('NRAS tokens: recorded samples', () => {
  it('verifies the teep capture at its stated time (SOURCES: HELPER-VERIFIED)', async () => {
    for (const now of [TEEP_IAT, TEEP_EXP - 1]) {
      const r = await verifyNrasToken(TEEP_RESPONSE, { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now });
      expect(r.nonce).toBe(TEEP_NONCE);
      expect(r.overall['x-nvidia-overall-att-result']).toBe(true);
      expect(r.overall.iss).toBe('https://nras.attestation.nvidia.com');
      expect(r.expiresAt).toBe(TEEP_EXP);
      expect(r.gpus).toHaveLength(1);
      expect(r.gpus[0]).toMatchObject({ name: 'GPU-0', hwmodel: 'GH100', driverVersion: '595.71.05' });
      expect(r.gpus[0]!.claims['measres']).toBe('success');
    }
  });

  it('records the submodule digest as SHA-256 of the GPU token string', async () => {
    const overall = decodePayload(TEEP_RESPONSE[0][1]);
    const gpu = TEEP_RESPONSE[1]['GPU-0']!;
    expect(overall['submods']).toEqual({ 'GPU-0': ['DIGEST', ['SHA-256', toHex(await digest('SHA-256', utf8(gpu)))]] });
  });

  it('accepts the response as JSON text and the nonce as bytes or upper-case hex', async () => {
    const text = JSON.stringify(TEEP_RESPONSE);
    await verifyNrasToken(text, { jwks: TEEP_JWKS, nonce: fromHex(TEEP_NONCE), now: TEEP_IAT });
    await verifyNrasToken(text, { jwks: TEEP_JWKS, nonce: TEEP_NONCE.toUpperCase(), now: TEEP_IAT });
  });

  it('works as the nvidia-nras GpuVerifier with an offline JWKS from the policy', async () => {
    const policy = parsePolicy({ gpu: { nras: { jwks: TEEP_JWKS } } });
    const v = createNrasVerifier();
    const verdict = await v.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), { policy, now: TEEP_IAT + 10 });
    expect(verdict.kind).toBe('nvidia-nras');
    expect(verdict.expiresAt).toBe(TEEP_EXP);
    expect(verdict.gpus).toEqual([
      {
        id: '645491728318197586580044110930866076104639838622',
        model: 'GH100',
        measurements: { driver_version: '595.71.05', vbios_version: '96.00.D9.00.02' },
      },
    ]);
  });

  it('applies policy.maxEvidenceAgeSeconds when verifying with a fresh nonce', async () => {
    const policy = parsePolicy({ gpu: { nras: { jwks: TEEP_JWKS } }, maxEvidenceAgeSeconds: 600 });
    const v = createNrasVerifier();
    await rejects(v.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), { policy, now: TEEP_IAT + 601 }), 'EVIDENCE_EXPIRED');
    // The CLI-level function has no age limit unless asked.
    await verifyNrasToken(TEEP_RESPONSE, { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT + 601 });
    await rejects(
      verifyNrasToken(TEEP_RESPONSE, { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT + 601, maxAgeSeconds: 600 }),
      'EVIDENCE_EXPIRED',
    );
  });

  it('refuses NRAS evidence when the policy has no gpu.nras section', async () => {
    const v = createNrasVerifier();
    await rejects(
      v.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), { policy: parsePolicy({}), now: TEEP_IAT }),
      'KIND_NOT_ALLOWED',
    );
  });

  it('rejects the expired token (now = exp, and later)', async () => {
    for (const now of [TEEP_EXP, TEEP_EXP + 3600]) {
      await rejects(verifyNrasToken(TEEP_RESPONSE, { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now }), 'EVIDENCE_EXPIRED');
    }
  });

  it('rejects the token before it is valid', async () => {
    await rejects(
      verifyNrasToken(TEEP_RESPONSE, { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT - 3600 }),
      'EVIDENCE_NOT_YET_VALID',
    );
  });

  it('rejects other nonces, including a prefix or an extension of the right one', async () => {
    const wrong = [
      '00'.repeat(32),
      TEEP_NONCE.slice(0, 8),
      TEEP_NONCE.slice(0, 62),
      TEEP_NONCE + '00',
      TEEP_NONCE.slice(0, 63) + 'f',
      '',
    ];
    for (const nonce of wrong) {
      await rejects(verifyNrasToken(TEEP_RESPONSE, { jwks: TEEP_JWKS, nonce, now: TEEP_IAT }), 'NONCE_MISMATCH');
    }
    await rejects(
      verifyNrasToken(TEEP_RESPONSE, { jwks: TEEP_JWKS, nonce: fromHex(TEEP_NONCE).slice(0, 16), now: TEEP_IAT }),
      'NONCE_MISMATCH',
    );
  });

  it('rejects a tampered overall payload, GPU payload or signature', async () => {
    const [h, p, s] = TEEP_RESPONSE[0][1].split('.') as [string, string, string];
    const payload = decodePayload(TEEP_RESPONSE[0][1]);
    const forged = `${h}.${b64urlJson({ ...payload, exp: TEEP_EXP + 86400 })}.${s}`;
    await rejects(
      verifyNrasToken([['JWT', forged], TEEP_RESPONSE[1]], { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }),
      'NRAS_SIGNATURE_INVALID',
    );
    // Flip one signature character (keep it valid base64url).
    const sigChars = s.split('');
    sigChars[10] = sigChars[10] === 'A' ? 'B' : 'A';
    const badSig = `${h}.${p}.${sigChars.join('')}`;
    await rejects(
      verifyNrasToken([['JWT', badSig], TEEP_RESPONSE[1]], { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }),
      'NRAS_SIGNATURE_INVALID',
    );
    const g = TEEP_RESPONSE[1]['GPU-0']!;
    const [gh, , gs] = g.split('.') as [string, string, string];
    const gForged = `${gh}.${b64urlJson({ ...decodePayload(g), dbgstat: 'disabled', measres: 'success', hwmodel: 'GH200' })}.${gs}`;
    await rejects(
      verifyNrasToken([TEEP_RESPONSE[0], { 'GPU-0': gForged }], { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }),
      'NRAS_SIGNATURE_INVALID',
    );
  });

  it('rejects every single-character change of the overall and the GPU token', async () => {
    const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const variants = (t: string) =>
      Array.from(t, (ch, i) => {
        if (ch === '.') return undefined;
        const repl = B64URL[(B64URL.indexOf(ch) + 17) % 64]!;
        return t.slice(0, i) + repl + t.slice(i + 1);
      }).filter((x): x is string => x !== undefined);
    const overall = TEEP_RESPONSE[0][1];
    const gpu = TEEP_RESPONSE[1]['GPU-0']!;
    let n = 0;
    for (const bad of variants(overall)) {
      const e = await verifyNrasToken([['JWT', bad], TEEP_RESPONSE[1]], { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }).catch(
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(AttestationError);
      n++;
    }
    for (const bad of variants(gpu)) {
      const e = await verifyNrasToken([TEEP_RESPONSE[0], { 'GPU-0': bad }], { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }).catch(
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(AttestationError);
      n++;
    }
    expect(n).toBeGreaterThan(2000);
  }, 60_000);

  it('the nvidia-nras GpuVerifier never crashes on garbage', async () => {
    const policy = parsePolicy({ gpu: { nras: { jwks: TEEP_JWKS } } });
    const v = createNrasVerifier();
    for (const g of [null, 1, 'x', [], {}, [['JWT', 'a.b.c']], { 'GPU-0': 'x' }]) {
      const e = await v.verify(g, fromHex(TEEP_NONCE), { policy, now: TEEP_IAT }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(AttestationError);
    }
  });

  it('rejects detached tokens that do not match the submodule digests', async () => {
    // Swap in another genuinely signed token (the overall one) as GPU-0.
    await rejects(
      verifyNrasToken([TEEP_RESPONSE[0], { 'GPU-0': TEEP_RESPONSE[0][1] }], {
        jwks: TEEP_JWKS,
        nonce: TEEP_NONCE,
        now: TEEP_IAT,
      }),
      'NRAS_CLAIMS_INVALID',
    );
    // Missing detached tokens, and an extra one.
    await rejects(
      verifyNrasToken([TEEP_RESPONSE[0]], { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }),
      'NRAS_CLAIMS_INVALID',
    );
    await rejects(
      verifyNrasToken([TEEP_RESPONSE[0], { ...TEEP_RESPONSE[1], 'GPU-1': TEEP_RESPONSE[1]['GPU-0']! }], {
        jwks: TEEP_JWKS,
        nonce: TEEP_NONCE,
        now: TEEP_IAT,
      }),
      'NRAS_CLAIMS_INVALID',
    );
  });

  it('rejects a token signed by a key that is not in the JWKS (same kid, or unknown kid)', async () => {
    const { privateKey } = await generateKeyPair('ES384');
    const payload = decodePayload(TEEP_RESPONSE[0][1]);
    for (const kid of [TEEP_KID, 'attacker-kid']) {
      const forged = await new SignJWT({ ...payload, submods: undefined })
        .setProtectedHeader({ alg: 'ES384', kid })
        .sign(privateKey);
      await rejects(
        verifyNrasToken(forged, { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }),
        'NRAS_SIGNATURE_INVALID',
      );
    }
  });

  it('rejects the attestation-sdk EAT offline: its kid is not in the captured JWKS (SOURCES: cannot be checked offline)', async () => {
    await rejects(
      verifyNrasToken(SDK_RESPONSE, { jwks: TEEP_JWKS, nonce: SDK_NONCE, now: 1749601858 }),
      'NRAS_SIGNATURE_INVALID',
    );
  });

  it('checks the signing JWK against its x5c certificate (valid 2026-06-28T16:59:27Z..2026-06-30T16:59:57Z)', async () => {
    checkJwkCertificate(TEEP_JWKS, TEEP_KID, TEEP_IAT);
    await rejects(
      Promise.resolve().then(() => checkJwkCertificate(TEEP_JWKS, TEEP_KID, Date.UTC(2026, 5, 30, 17) / 1000)),
      'CERT_EXPIRED',
    );
    await rejects(
      Promise.resolve().then(() => checkJwkCertificate(TEEP_JWKS, TEEP_KID, Date.UTC(2026, 5, 28, 16) / 1000)),
      'CERT_NOT_YET_VALID',
    );
    // A JWKS whose entry for the kid carries another key's certificate is refused.
    const other = TEEP_JWKS.keys.find((k) => k['kid'] !== TEEP_KID)!;
    const swapped: Jwks = {
      keys: TEEP_JWKS.keys.map((k) => (k['kid'] === TEEP_KID ? { ...k, x5c: other['x5c'] } : k)),
    };
    await rejects(verifyNrasToken(TEEP_RESPONSE, { jwks: swapped, nonce: TEEP_NONCE, now: TEEP_IAT }), 'COLLATERAL_INVALID');
  });

  it('accepts the attestation-sdk decoded GPU claims (NRAS v3 nested certificate results)', () => {
    const decoded = JSON.parse(readSampleText('nvidia/attestation-sdk/hopperClaimsv3_decoded.json')) as Record<string, JWTPayload>;
    expect(decoded['GPU-0']).toEqual(decodePayload(SDK_RESPONSE[1]['GPU-0']!));
    checkGpuClaims('GPU-0', decoded['GPU-0']!);
  });

  it('parses the attestation-sdk EAT and its submodule digest matches (structure only)', async () => {
    const parsed = parseNrasResponse(SDK_RESPONSE);
    expect(Object.keys(parsed.gpus)).toEqual(['GPU-0']);
    await checkSubmodDigests(decodePayload(parsed.overall), parsed.gpus);
    await expect(
      checkSubmodDigests(decodePayload(parsed.overall), { 'GPU-0': TEEP_RESPONSE[1]['GPU-0']! }),
    ).rejects.toMatchObject({ code: 'NRAS_CLAIMS_INVALID' });
  });

  it('never crashes on garbage: always an AttestationError', async () => {
    const garbage: unknown[] = [
      null,
      undefined,
      42,
      '',
      'not a jwt',
      'a.b.c',
      '[',
      '[]',
      [],
      [['JWT']],
      [['JWT', 5]],
      [['JWS', TEEP_RESPONSE[0][1]]],
      [['JWT', TEEP_RESPONSE[0][1]], 'x'],
      [['JWT', TEEP_RESPONSE[0][1]], { 'GPU-0': 7 }],
      {},
      { token: TEEP_RESPONSE[0][1] },
      'x'.repeat(200_000),
      `${'e30'}.${'e30'}.${'AA'}`,
      `${b64urlJson({ alg: 'none' })}.${b64urlJson({})}.`,
      `${b64urlJson({ alg: 'ES384', kid: TEEP_KID })}.${'!!!'}.AAAA`,
      `${b64urlJson({ alg: 'ES384', kid: TEEP_KID })}.${b64urlJson([1, 2])}.${'A'.repeat(128)}`,
      `${b64urlJson({ alg: 'HS256', kid: TEEP_KID })}.${b64urlJson({})}.${'A'.repeat(43)}`,
    ];
    for (const g of garbage) {
      const err = await verifyNrasToken(g, { jwks: TEEP_JWKS, nonce: TEEP_NONCE, now: TEEP_IAT }).then(
        () => 'accepted',
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(g)?.slice(0, 80)).toBeInstanceOf(AttestationError);
    }
    for (const jwks of [{} as Jwks, { keys: 'x' } as unknown as Jwks, { keys: [{ kty: 'EC' }] }]) {
      const err = await verifyNrasToken(TEEP_RESPONSE, { jwks, nonce: TEEP_NONCE, now: TEEP_IAT }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationError);
    }
  });
});

describe('NRAS claims, with tokens signed at test time', () => {
  const NOW = 1_800_000_000;
  const ISS = 'https://nras.attestation.nvidia.com';

  async function signer() {
    const { privateKey, publicKey } = await generateKeyPair('ES384');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'test-kid' };
    const jwks: Jwks = { keys: [jwk as Record<string, unknown>] };
    const sign = (claims: JWTPayload) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES384', kid: 'test-kid' }).sign(privateKey);
    return { jwks, sign };
  }

  /** A response built like NRAS: GPU claims from nvtrust's decoded sample, overall token with submods. */
  async function build(opts: {
    gpu?: Record<string, unknown>;
    overall?: Record<string, unknown>;
    granular?: boolean;
    nonce?: string;
  }) {
    const { jwks, sign } = await signer();
    const base = JSON.parse(
      readSampleText(opts.granular ? 'nvidia/nvtrust/detached_granular_claims_remote.json' : 'nvidia/nvtrust/detached_claims_remote.json'),
    ) as Record<string, unknown>;
    const nonce = opts.nonce ?? SDK_NONCE;
    const gpuClaims = { ...base, iss: ISS, eat_nonce: nonce, iat: NOW - 10, nbf: NOW - 10, exp: NOW + 3600, ...opts.gpu };
    const gpuToken = await sign(gpuClaims);
    const overall = {
      sub: 'NVIDIA-PLATFORM-ATTESTATION',
      'x-nvidia-ver': '3.0',
      iss: ISS,
      'x-nvidia-overall-att-result': true,
      submods: { 'GPU-0': ['DIGEST', ['SHA-256', toHex(await digest('SHA-256', utf8(gpuToken)))]] },
      eat_nonce: nonce,
      iat: NOW - 10,
      nbf: NOW - 10,
      exp: NOW + 1800,
      ...opts.overall,
    };
    return { jwks, response: [['JWT', await sign(overall)], { 'GPU-0': gpuToken }] };
  }

  it('accepts well-formed v2 and v3 (granular) claims; expiresAt is the earliest exp', async () => {
    for (const granular of [false, true]) {
      const { jwks, response } = await build({ granular });
      const r = await verifyNrasToken(response, { jwks, nonce: SDK_NONCE, now: NOW });
      expect(r.expiresAt).toBe(NOW + 1800);
      expect(r.gpus[0]!.hwmodel).toBe('GH100 A01 GSP BROM');
    }
  });

  const cases: Array<[string, Parameters<typeof build>[0], string]> = [
    ['overall result false', { overall: { 'x-nvidia-overall-att-result': false } }, 'GPU_ATTESTATION_FAILED'],
    ['overall result missing', { overall: { 'x-nvidia-overall-att-result': undefined } }, 'GPU_ATTESTATION_FAILED'],
    ['measres fail', { gpu: { measres: 'fail' } }, 'GPU_ATTESTATION_FAILED'],
    ['secure boot off', { gpu: { secboot: false } }, 'GPU_ATTESTATION_FAILED'],
    ['debug enabled', { gpu: { dbgstat: 'enabled' } }, 'DEBUG_ENABLED'],
    ['driver RIM signature not verified', { gpu: { 'x-nvidia-gpu-driver-rim-signature-verified': false } }, 'GPU_ATTESTATION_FAILED'],
    ['vbios RIM not fetched', { gpu: { 'x-nvidia-gpu-vbios-rim-fetched': undefined } }, 'GPU_ATTESTATION_FAILED'],
    ['report cert chain not validated', { gpu: { 'x-nvidia-gpu-attestation-report-cert-chain-validated': false } }, 'GPU_ATTESTATION_FAILED'],
    ['unknown x-nvidia-gpu check false', { gpu: { 'x-nvidia-gpu-driver-rim-version-match': false } }, 'GPU_ATTESTATION_FAILED'],
    [
      'driver RIM cert revoked (granular)',
      {
        granular: true,
        gpu: {
          'x-nvidia-gpu-driver-rim-cert-chain': {
            'x-nvidia-cert-status': 'valid',
            'x-nvidia-cert-ocsp-status': 'revoked',
            'x-nvidia-cert-revocation-reason': 'certificateHold',
          },
        },
      },
      'CERT_REVOKED',
    ],
    [
      'vbios RIM cert expired (granular)',
      { granular: true, gpu: { 'x-nvidia-gpu-vbios-rim-cert-chain': { 'x-nvidia-cert-status': 'expired', 'x-nvidia-cert-ocsp-status': 'good' } } },
      'GPU_ATTESTATION_FAILED',
    ],
    ['GPU token nonce differs', { gpu: { eat_nonce: '11'.repeat(32) } }, 'NONCE_MISMATCH'],
    ['GPU token nonce is a prefix', { gpu: { eat_nonce: SDK_NONCE.slice(0, 32) } }, 'NONCE_MISMATCH'],
    ['GPU token expired', { gpu: { exp: NOW - 1 } }, 'EVIDENCE_EXPIRED'],
    ['overall token expired', { overall: { exp: NOW - 100 } }, 'EVIDENCE_EXPIRED'],
    ['overall token issued in the future', { overall: { iat: NOW + 3600, nbf: undefined } }, 'EVIDENCE_NOT_YET_VALID'],
    ['staging issuer', { overall: { iss: 'https://nras.attestation-stg.nvidia.com' } }, 'NRAS_CLAIMS_INVALID'],
    ['wrong submodule digest', { overall: { submods: { 'GPU-0': ['DIGEST', ['SHA-256', '00'.repeat(32)]] } } }, 'NRAS_CLAIMS_INVALID'],
    ['submods not DIGEST', { overall: { submods: { 'GPU-0': ['CLAIMS', {}] } } }, 'NRAS_CLAIMS_INVALID'],
    ['missing exp', { overall: { exp: undefined } }, 'NRAS_CLAIMS_INVALID'],
  ];
  for (const [name, opts, code] of cases) {
    it(`rejects: ${name}`, async () => {
      const { jwks, response } = await build(opts);
      await rejects(verifyNrasToken(response, { jwks, nonce: SDK_NONCE, now: NOW }), code);
    });
  }

  it('accepts a configured staging issuer', async () => {
    const { jwks, response } = await build({ overall: { iss: 'https://nras.attestation-stg.nvidia.com' } });
    await verifyNrasToken(response, {
      jwks,
      nonce: SDK_NONCE,
      now: NOW,
      issuers: [ISS, 'https://nras.attestation-stg.nvidia.com'],
    });
  });
});

describe('NRAS JWKS fetching', () => {
  it('fetches the policy jwksUrl once, caches it, and refetches on an unknown kid after the cooldown', async () => {
    let calls = 0;
    let clock = 0;
    let body: unknown = TEEP_JWKS;
    const fetch = async (url: string) => {
      calls++;
      expect(url).toBe('https://jwks.example/jwks.json');
      return new Response(JSON.stringify(body), { status: 200 });
    };
    const cache = new JwksCache({ fetch, clock: () => clock });
    const v = createNrasVerifier({ jwksCache: cache });
    const policy = parsePolicy({ gpu: { nras: { jwksUrl: 'https://jwks.example/jwks.json' } } });
    const ctx = { policy, now: TEEP_IAT };
    await v.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), ctx);
    await v.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), ctx);
    expect(calls).toBe(1);
    // Key rotated away: within the cooldown no refetch, the token fails.
    body = { keys: [] };
    clock = 40_000;
    const { privateKey } = await generateKeyPair('ES384');
    const forged = await new SignJWT({ iss: 'x', exp: TEEP_EXP, iat: TEEP_IAT, eat_nonce: TEEP_NONCE })
      .setProtectedHeader({ alg: 'ES384', kid: 'new-kid' })
      .sign(privateKey);
    await rejects(v.verify(forged, fromHex(TEEP_NONCE), ctx), 'NRAS_SIGNATURE_INVALID');
    expect(calls).toBe(2);
    // After expiry of the cache the new (empty) set is used and the real token fails too.
    clock = 40_000 + 3_600_000;
    await rejects(v.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), ctx), 'NRAS_SIGNATURE_INVALID');
    expect(calls).toBe(3);
  });

  it('maps fetch failures and bad documents to typed errors', async () => {
    const policy = parsePolicy({ gpu: { nras: { jwksUrl: 'https://jwks.example/jwks.json' } } });
    const ctx = { policy, now: TEEP_IAT };
    const failing = createNrasVerifier({
      fetch: async () => {
        throw new TypeError('network down');
      },
    });
    await rejects(failing.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), ctx), 'COLLATERAL_UNAVAILABLE');
    const http500 = createNrasVerifier({ fetch: async () => new Response('oops', { status: 500 }) });
    await rejects(http500.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), ctx), 'COLLATERAL_UNAVAILABLE');
    const notJson = createNrasVerifier({ fetch: async () => new Response('<html>', { status: 200 }) });
    await rejects(notJson.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), ctx), 'COLLATERAL_INVALID');
    const noKeys = createNrasVerifier({ fetch: async () => new Response('{"k":1}', { status: 200 }) });
    await rejects(noKeys.verify(TEEP_RESPONSE, fromHex(TEEP_NONCE), ctx), 'COLLATERAL_INVALID');
  });
});
