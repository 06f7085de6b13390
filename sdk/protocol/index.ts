export { SealError, isSealError } from './errors.ts';
export type { SealErrorCode } from './errors.ts';
export {
  sealRequest,
  openRequest,
  prepareSender,
  PreparedSender,
  DEFAULT_AEAD,
  REQUEST_INFO_LABEL,
  type Recipient,
  type RecipientKeys,
  type SealRequestOptions,
  type SealedRequest,
  type OpenRequestOptions,
  type OpenedRequest,
} from './request.ts';
export {
  ResponseSealer,
  ResponseOpener,
  openResponseStream,
  sealResponseStream,
  DEFAULT_MAX_CHUNK,
  RESPONSE_EXPORT_LABEL,
  type SealChunkOptions,
} from './response.ts';
export { ReplayGuard, type ReplayGuardOptions } from './replay.ts';
export { SenderPool, type SenderPoolOptions } from './sender-pool.ts';
export {
  selectRecipient,
  generateRecipientKeys,
  warmRecipientKeys,
  bindingKeysFor,
  encodeKey,
  decodeKey,
  KEM_PREFERENCE,
  type BindingKey,
} from './suites.ts';
export { PROTOCOL_VERSION, HEADER_LENGTH, SEALED_REQUEST_TYPE, SEALED_RESPONSE_TYPE } from './wire.ts';
export type { KemName, AeadName, KeyPair } from '../hpke/hpke.ts';
export { signReceipt, verifyReceipt, signReceiptBatch, verifyReceiptBatch, MAX_BATCH_RECEIPTS, type ReceiptBatch, type VerifiedReceiptBatch, warmReceiptKey, digestHex, receiptCharge, isPrice, accountForApiKey, priceWithin, RECEIPT_TAG, type Receipt, type UnsignedReceipt, type Price } from './receipt.ts';
export {
  SessionSender,
  SessionReceiver,
  ReplayWindow,
  SESSION_OPEN_TYPE,
  SESSION_REQUEST_TYPE,
  SESSION_INFO_LABEL,
  SESSION_REQUEST_LABEL,
  type SessionReceiverOptions,
} from './session.ts';
