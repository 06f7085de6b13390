/**
 * TEST-ONLY hooks: deterministic sealing for test vectors. These inject the
 * ephemeral KEM randomness and the response nonce. Never use them in
 * production — reusing ikmE or a response nonce destroys confidentiality.
 */
import {
  openRequestWith,
  sealRequestWith,
  type OpenRequestOptions,
  type OpenedRequest,
  type SealRequestOptions,
  type SealedRequest,
} from './request.ts';
import { SessionSender } from './session.ts';
import type { AeadName } from '../hpke/hpke.ts';

/** ikmE: 32+ bytes for X25519 (DeriveKeyPair input), exactly 64 bytes (eseed) for X-Wing. */
export function sealRequestDeterministic(opts: SealRequestOptions, ikmE: Uint8Array): Promise<SealedRequest> {
  return sealRequestWith(opts, { ikmE });
}

/** responseNonce: max(Nn, Nk) bytes (16 for AES-128-GCM, 32 for ChaCha20-Poly1305). */
export function openRequestDeterministic(opts: OpenRequestOptions, responseNonce: Uint8Array): Promise<OpenedRequest> {
  return openRequestWith(opts, { responseNonce });
}

/** A session open with fixed encapsulation randomness (same sizes as for sealRequestDeterministic). */
export function openSessionDeterministic(recipient: SealRequestOptions['recipient'], aad: Uint8Array, aead: AeadName, ikmE: Uint8Array) {
  return SessionSender.openWith(recipient, aad, aead, { ikmE });
}
