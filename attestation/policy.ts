import { z } from 'zod';
import { PolicyInvalidError } from './errors.ts';

const hexOf = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^(0x)?[0-9a-fA-F]{${bytes * 2}}$`), `expected ${bytes} bytes of hex`)
    .transform((s) => s.replace(/^0x/, '').toLowerCase());

/** TCB statuses as Intel names them, best first; AMD and NVIDIA verdicts map onto the same names. */
export const TcbStatus = z.enum([
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
]);
export type TcbStatus = z.infer<typeof TcbStatus>;

const TdxMeasurementSet = z.strictObject({
  mrtd: hexOf(48),
  rtmr0: hexOf(48).optional(),
  rtmr1: hexOf(48).optional(),
  rtmr2: hexOf(48).optional(),
  rtmr3: hexOf(48).optional(),
  mrseam: hexOf(48).optional(),
  mrconfigid: hexOf(48).optional(),
  mrowner: hexOf(48).optional(),
  mrownerconfig: hexOf(48).optional(),
});

const SnpMeasurementSet = z.strictObject({
  measurement: hexOf(48),
  hostData: hexOf(32).optional(),
});

const SimulatedMeasurementSet = z.strictObject({ measurement: hexOf(48) });

/**
 * The verifier's policy, as a JSON file. Unknown fields are rejected; a kind
 * whose section is absent is not accepted at all (fail closed).
 */
export const PolicySchema = z.strictObject({
  /** Accept the development-only simulated TEE. Never set this in production. */
  allowSimulated: z.boolean().default(false),
  simulated: z
    .strictObject({
      /** Pinned simulated-TEE signing keys (Ed25519, hex). Absent: any signer. */
      signers: z.array(hexOf(32)).optional(),
      measurements: z.array(SimulatedMeasurementSet).min(1).optional(),
    })
    .optional(),
  tdx: z
    .strictObject({
      measurements: z.array(TdxMeasurementSet).min(1),
      /** Exact TD attributes (8 bytes hex). Absent: all zero except SEPT_VE_DISABLE (bit 28) allowed. */
      tdAttributes: z.array(hexOf(8)).min(1).optional(),
      /** Allowed XFAM values (8 bytes hex). Absent: any XFAM. */
      xfam: z.array(hexOf(8)).min(1).optional(),
    })
    .optional(),
  sevSnp: z
    .strictObject({
      measurements: z.array(SnpMeasurementSet).min(1),
      allowSmt: z.boolean().default(true),
      allowMigrationAgent: z.boolean().default(false),
      /** VMPLs the report may come from. */
      vmpl: z.array(z.number().int().min(0).max(3)).min(1).default([0]),
      /** Minimum reported TCB SVNs. */
      minTcb: z
        .strictObject({
          bootloader: z.number().int().min(0).max(255),
          tee: z.number().int().min(0).max(255),
          snp: z.number().int().min(0).max(255),
          microcode: z.number().int().min(0).max(255),
          fmc: z.number().int().min(0).max(255).optional(),
        })
        .optional(),
    })
    .optional(),
  tcb: z
    .strictObject({
      acceptedStatuses: z.array(TcbStatus).min(1).default(['UpToDate']),
      /** Advisory IDs tolerated on an accepted non-UpToDate status; any other advisory rejects. */
      allowedAdvisories: z.array(z.string()).default([]),
    })
    .default({ acceptedStatuses: ['UpToDate'], allowedAdvisories: [] }),
  /** Maximum age of evidence that carries its own time (simulated quotes, NRAS tokens). */
  maxEvidenceAgeSeconds: z.number().int().positive().default(600),
  /** Maximum age of collateral since its issue date, on top of its own nextUpdate. */
  maxCollateralAgeSeconds: z.number().int().positive().default(30 * 24 * 3600),
  /** Upper bound on how long any verdict is used before re-attestation. */
  maxVerdictSeconds: z.number().int().positive().default(3600),
  gpu: z
    .strictObject({
      required: z.boolean().default(false),
      /** Minimum number of GPUs that must attest when GPU evidence is required. */
      minCount: z.number().int().min(1).default(1),
      /** Accept local SPDM evidence (nvidia-spdm). Absent: refused. */
      spdm: z
        .strictObject({
          /** Allowed measurement sets, by SPDM measurement index (decimal string) to hex. Absent: any firmware. */
          measurements: z
            .array(
              z
                .record(z.string().regex(/^\d+$/), z.string().regex(/^[0-9a-fA-F]+$/))
                // An empty set would match every GPU.
                .refine((set) => Object.keys(set).length > 0, 'a measurement set must name at least one index'),
            )
            .min(1)
            .optional(),
        })
        .optional(),
      nras: z
        .strictObject({
          /** Offline JWKS for NRAS token signatures. */
          jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
          /** JWKS URL to fetch when no offline JWKS is given. */
          jwksUrl: z.url().optional(),
        })
        .optional(),
    })
    .default({ required: false, minCount: 1 }),
});

export type Policy = z.output<typeof PolicySchema>;
export type PolicyInput = z.input<typeof PolicySchema>;

/**
 * Validates a policy document, throwing `PolicyInvalidError` with the first problem.
 *
 * @example
 * const policy = parsePolicy(JSON.parse(await readFile('policy.json', 'utf8')));
 */
export function parsePolicy(input: unknown): Policy {
  const r = PolicySchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new PolicyInvalidError(`policy ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}

/**
 * True when `actual` matches every field of at least one allowed set.
 * Field names in sets are compared against `actual` keys case-insensitively.
 */
export function matchesMeasurementSet(
  actual: Record<string, string>,
  allowed: ReadonlyArray<Record<string, string | undefined>>,
): boolean {
  const norm = Object.fromEntries(Object.entries(actual).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
  return allowed.some((set) =>
    Object.entries(set).every(([k, v]) => v === undefined || norm[k.toLowerCase()] === v.toLowerCase()),
  );
}
