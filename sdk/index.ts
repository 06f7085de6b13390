/**
 * sealgate client SDK: verify workers' evidence yourself, seal requests end to
 * end, open streamed responses and check receipts. Web standards only.
 *
 * @example
 * import OpenAI from 'openai';
 * import { sealedFetch } from 'sealgate/sdk';
 * const openai = new OpenAI({ baseURL: 'https://gw.example/v1', apiKey, fetch: sealedFetch({ policy }) });
 */
export {
  sealedFetch,
  createSealedClient,
  endpointOf,
  SEALED_REQUEST_TYPE,
  SEALED_RESPONSE_TYPE,
  type SealedFetchOptions,
  type SealedClient,
  type SealedEndpoint,
  type ReceiptInfo,
} from './client/sealed-fetch.ts';
export {
  WorkerVerifier,
  verifyWorkers,
  type WorkerListing,
  type VerifiedWorker,
  type VerifyWorkersResult,
  type WorkerVerifierOptions,
} from './client/verify-workers.ts';
export {
  SealedFetchError,
  isSealedFetchError,
  WorkerIdMismatchError,
  ModelNotBoundError,
  ReceiptKeyMissingError,
  MalformedListingError,
  type SealedFetchErrorCode,
  type WorkerRejection,
  type AttemptRecord,
} from './client/errors.ts';
export { SealedMessageReader, SseGate } from './client/sealed-response.ts';
export { SealError, isSealError, verifyReceipt, digestHex, accountForApiKey, receiptCharge, type Receipt, type Price, type SealErrorCode, type KemName, type AeadName } from './protocol/index.ts';
export { AttestationError, parsePolicy, type Policy, type PolicyInput } from '../attestation/index.ts';
