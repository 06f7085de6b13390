import { ed25519 } from '@noble/curves/ed25519.js';
import type { BoundKey } from '../attestation/types.ts';
import { toBase64Url } from '../attestation/util/bytes.ts';
import { bindingKeysFor, generateRecipientKeys, warmReceiptKey, warmRecipientKeys } from '../sdk/protocol/index.ts';

/** The enclave's keys, generated in memory at start and never written anywhere. */
export interface WorkerKeys {
  /** HPKE recipient keys for sealed requests (X25519 and X-Wing). */
  hpke: ReturnType<typeof generateRecipientKeys>;
  receipt: { alg: 'Ed25519'; publicKey: Uint8Array; secretKey: Uint8Array };
}

export function generateWorkerKeys(): WorkerKeys {
  const receiptSecret = ed25519.utils.randomSecretKey();
  return {
    hpke: generateRecipientKeys(),
    receipt: { alg: 'Ed25519', publicKey: ed25519.getPublicKey(receiptSecret), secretKey: receiptSecret },
  };
}

/** The public halves, as the evidence bundle binds them. */
export function boundKeys(keys: WorkerKeys): BoundKey[] {
  return [...bindingKeysFor(keys.hpke), { use: 'receipt', alg: keys.receipt.alg, key: toBase64Url(keys.receipt.publicKey) }];
}

/**
 * One-time per-key work (Web Crypto imports, X-Wing seed expansion and ML-KEM
 * preparation) done at start-up instead of on the first sealed request.
 */
export async function warmWorkerKeys(keys: WorkerKeys): Promise<void> {
  await Promise.all([warmRecipientKeys(keys.hpke), warmReceiptKey(keys.receipt.secretKey)]);
}
