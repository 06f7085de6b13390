/**
 * NVIDIA GPU attestation: NRAS tokens (`nvidia-nras`) and local SPDM evidence
 * (`nvidia-spdm`). Runtime-agnostic (Web Crypto, `jose`, pure TypeScript).
 */
export {
  nvidiaNrasVerifier,
  createNrasVerifier,
  verifyNrasToken,
  parseNrasResponse,
  checkSubmodDigests,
  checkGpuClaims,
  checkJwkCertificate,
  JwksCache,
  NRAS_ISSUER,
  NRAS_JWKS_URL,
  type Jwks,
  type JwksCacheOptions,
  type NrasKeyResolver,
  type NrasResponse,
  type NrasResult,
  type NrasGpuResult,
  type NrasVerifyOptions,
  type NrasVerifierOptions,
} from './nras.ts';
export {
  nvidiaSpdmVerifier,
  createSpdmVerifier,
  type SpdmVerifierOptions,
  verifySpdmEvidence,
  verifySpdmReport,
  parseSpdmReport,
  OpaqueField,
  type SpdmReport,
  type SpdmMeasurementBlock,
  type SpdmGpuResult,
  type SpdmVerifyOptions,
} from './spdm.ts';
export { verifyRim, compareWithRims, type Rim, type RimMeasurement, type RimComparison, type RimVerifyOptions } from './rim.ts';
export { NVIDIA_DEVICE_ROOT_PEM, NVIDIA_DEVICE_ROOT_SHA256, NVIDIA_RIM_ROOT_PEM } from './roots.ts';
export {
  NrasSignatureInvalidError,
  NrasClaimsInvalidError,
  EvidenceNotYetValidError,
  SpdmSignatureInvalidError,
  FwidMismatchError,
} from './errors.ts';
