import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import type { BoundKey } from '../attestation/types.ts';
import { toBase64Url } from '../attestation/util/bytes.ts';

/** The enclave's keys, generated in memory at start and never written anywhere. */
export interface WorkerKeys {
  hpke: { alg: 'X25519'; publicKey: Uint8Array; secretKey: Uint8Array };
  receipt: { alg: 'Ed25519'; publicKey: Uint8Array; secretKey: Uint8Array };
}

export function generateWorkerKeys(): WorkerKeys {
  const hpkeSecret = x25519.utils.randomSecretKey();
  const receiptSecret = ed25519.utils.randomSecretKey();
  return {
    hpke: { alg: 'X25519', publicKey: x25519.getPublicKey(hpkeSecret), secretKey: hpkeSecret },
    receipt: { alg: 'Ed25519', publicKey: ed25519.getPublicKey(receiptSecret), secretKey: receiptSecret },
  };
}

/** The public halves, as the evidence bundle binds them. */
export function boundKeys(keys: WorkerKeys): BoundKey[] {
  return [
    { use: 'hpke', alg: keys.hpke.alg, key: toBase64Url(keys.hpke.publicKey) },
    { use: 'receipt', alg: keys.receipt.alg, key: toBase64Url(keys.receipt.publicKey) },
  ];
}
