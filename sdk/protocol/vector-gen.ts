/**
 * Deterministic protocol test vectors (self-generated, for sealgate's own wire
 * format — there is no external spec to take them from). Regenerate with:
 *
 *   node bin/run-ts.mjs sdk/protocol/gen-vectors.ts > sdk/protocol/vectors.json
 *
 * protocol.test.ts rebuilds them and requires byte-for-byte equality.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  DHKEM_X25519,
  HKDF_SHA256,
  KDF_HKDF_SHA256,
  SenderContext,
  XWING,
  aeadByName,
  setupBaseR,
  suite,
  utf8,
  type AeadName,
  type KemName,
} from '../hpke/hpke.ts';
import { openRequestDeterministic, openSessionDeterministic, sealRequestDeterministic } from './testing.ts';
import { requestContext, sessionInfo } from './session.ts';
import { requestInfo } from './request.ts';
import { deriveResponseKeys, responseNonceLength } from './response.ts';
import { HEADER_LENGTH } from './wire.ts';

export interface ProtocolVector {
  name: string;
  kem: KemName;
  aead: AeadName;
  ikmR: string;
  skR: string;
  pkR: string;
  ikmE: string;
  body: string;
  aad: string;
  message: string;
  replayId: string;
  responseNonce: string;
  responseKey: string;
  responseBaseNonce: string;
  chunks: Array<{ pt: string; final: boolean }>;
  response: string;
}

function fill(len: number, start: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (start + i) & 0xff;
  return out;
}

export interface SessionVector {
  name: string;
  kem: KemName;
  aead: AeadName;
  skR: string;
  pkR: string;
  ikmE: string;
  openAad: string;
  open: string;
  sessionId: string;
  aad: string;
  /** Requests 0 and 1 of the session, with the per-request AEAD key and base nonce (recomputed from the HPKE exporter). */
  requests: Array<{ n: number; body: string; message: string; key: string; baseNonce: string }>;
}

/** The four suites, numbered from 1 (the number seeds each vector's fixed randomness), with their recipient ikm. */
const SUITES = (['X25519', 'X-Wing'] as const).flatMap((kemName, i) =>
  (['AES-128-GCM', 'ChaCha20-Poly1305'] as const).map((aeadName, j) => ({
    n: i * 2 + j + 1,
    kemName,
    aeadName,
    kem: kemName === 'X25519' ? DHKEM_X25519 : XWING,
    aead: aeadByName(aeadName),
    ikmR: utf8(`sealgate test vector recipient ${kemName}`),
  })),
);

/** Session vectors (docs/PROTOCOL.md §13): an open and two requests per suite. */
async function buildSessionVectors(body: Uint8Array, aad: Uint8Array): Promise<SessionVector[]> {
  const out: SessionVector[] = [];
  const openAad = utf8('{"worker":"wk_0123456789abcdef01234567"}');
  for (const { n, kemName, aeadName, kem, aead, ikmR } of SUITES) {
    const kp = kem.deriveKeyPair(ikmR);
    const ikmE = fill(kemName === 'X25519' ? 32 : 64, 0x30 + 0x10 * n);
    const { session, message } = await openSessionDeterministic({ kem: kemName, publicKey: kp.publicKey }, openAad, aeadName, ikmE);
    const s = suite(kem.id, KDF_HKDF_SHA256, aead.id);
    const enc = message.subarray(HEADER_LENGTH, HEADER_LENGTH + kem.Nenc);
    const ctx = await setupBaseR(s, enc, kp.secretKey, sessionInfo(message.subarray(0, HEADER_LENGTH)));
    const requests = [0, 1].map((i) => {
      const b = utf8(`${new TextDecoder().decode(body)} #${i}`);
      const rc = requestContext(ctx, s, i, SenderContext);
      return { n: i, body: bytesToHex(b), message: bytesToHex(session.seal(b, aad).message), key: bytesToHex(rc.key), baseNonce: bytesToHex(rc.baseNonce) };
    });
    out.push({
      name: `session ${kemName} / HKDF-SHA256 / ${aeadName}`,
      kem: kemName,
      aead: aeadName,
      skR: bytesToHex(kp.secretKey),
      pkR: bytesToHex(kp.publicKey),
      ikmE: bytesToHex(ikmE),
      openAad: bytesToHex(openAad),
      open: bytesToHex(message),
      sessionId: session.id,
      aad: bytesToHex(aad),
      requests,
    });
  }
  return out;
}

export async function buildVectors(): Promise<{ note: string; vectors: ProtocolVector[]; sessions: SessionVector[] }> {
  const vectors: ProtocolVector[] = [];
  const body = utf8(
    JSON.stringify({ model: 'demo-1', stream: true, messages: [{ role: 'user', content: 'canary-7f3a: say hi' }] }),
  );
  const aad = utf8(JSON.stringify({ model: 'demo-1', workerId: 'worker-0001' }));
  const chunkTexts = [
    'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n',
    'data: {"choices":[{"delta":{"content":" there"}}]}\n\n',
    'data: [DONE]\n\n',
    '',
  ];
  for (const { n, kemName, aeadName, kem, aead, ikmR } of SUITES) {
    const kp = kem.deriveKeyPair(ikmR);
    const ikmE = fill(kemName === 'X25519' ? 32 : 64, 0x10 * n);
    const responseNonce = fill(responseNonceLength(aead), 0xa0 + n);
    const { message } = await sealRequestDeterministic(
      { recipient: { kem: kemName, publicKey: kp.publicKey }, aead: aeadName, body, aad },
      ikmE,
    );
    const keys = kemName === 'X25519' ? { x25519: kp } : { xwing: kp };
    const opened = await openRequestDeterministic({ keys, message, aad }, responseNonce);
    const parts: Uint8Array[] = [];
    chunkTexts.forEach((t, i) => parts.push(opened.sealer.seal(utf8(t), { final: i === chunkTexts.length - 1 })));
    const response = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      response.set(p, o);
      o += p.length;
    }
    // Intermediate values, recomputed independently of the sealer.
    const s = suite(kem.id, KDF_HKDF_SHA256, aead.id);
    const enc = message.subarray(HEADER_LENGTH, HEADER_LENGTH + kem.Nenc);
    const ctx = await setupBaseR(s, enc, kp.secretKey, requestInfo(message.subarray(0, HEADER_LENGTH)));
    const rk = deriveResponseKeys(ctx, HKDF_SHA256, aead, enc, responseNonce);
    vectors.push({
      name: `${kemName} / HKDF-SHA256 / ${aeadName}`,
      kem: kemName,
      aead: aeadName,
      ikmR: bytesToHex(ikmR),
      skR: bytesToHex(kp.secretKey),
      pkR: bytesToHex(kp.publicKey),
      ikmE: bytesToHex(ikmE),
      body: bytesToHex(body),
      aad: bytesToHex(aad),
      message: bytesToHex(message),
      replayId: bytesToHex(opened.replayId),
      responseNonce: bytesToHex(responseNonce),
      responseKey: bytesToHex(rk.key),
      responseBaseNonce: bytesToHex(rk.nonce),
      chunks: chunkTexts.map((t, i) => ({ pt: bytesToHex(utf8(t)), final: i === chunkTexts.length - 1 })),
      response: bytesToHex(response),
    });
  }
  return {
    note:
      'SELF-GENERATED sealgate protocol vectors (deterministic: fixed ikmR, ikmE and response nonce injected through sdk/protocol/testing.ts). ' +
      'Built on HPKE checked against the official RFC 9180 and X-Wing draft vectors in sdk/hpke/vectors/. See docs/PROTOCOL.md.',
    vectors,
    sessions: await buildSessionVectors(body, aad),
  };
}
