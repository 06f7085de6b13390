import { z } from 'zod';
import { MalformedEvidenceError } from './errors.ts';
import type { EvidenceBundle } from './types.ts';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected base64url').max(8192);

/** zod schema of an evidence bundle as it crosses the wire. */
export const EvidenceBundleSchema = z.strictObject({
  version: z.literal(1),
  tee: z.strictObject({
    kind: z.enum(['simulated', 'tdx', 'sev-snp']),
    evidence: z.string().min(1).max(1 << 20),
    collateral: z.unknown().optional(),
  }),
  gpus: z
    .array(z.strictObject({ kind: z.enum(['nvidia-nras', 'nvidia-spdm']), evidence: z.unknown() }))
    .max(16)
    .optional(),
  binding: z.strictObject({
    keys: z
      .array(z.strictObject({ use: z.enum(['hpke', 'receipt']), alg: z.string().min(1).max(64), key: b64url }))
      .min(1)
      .max(8),
    nonce: z.string().regex(/^[0-9a-f]{64}$/, 'nonce must be 32 bytes of lowercase hex'),
    models: z
      .array(z.strictObject({ id: z.string().min(1).max(256), digest: z.string().min(1).max(256) }))
      .min(1)
      .max(64),
    issuedAt: z.number().int().positive().optional(),
  }),
});

/** Validates an untrusted bundle; throws `MalformedEvidenceError` naming the first problem. */
export function parseEvidenceBundle(input: unknown): EvidenceBundle {
  const r = EvidenceBundleSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new MalformedEvidenceError(`evidence bundle ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data as EvidenceBundle;
}
