import { CollateralExpiredError, CollateralUnavailableError, defineErrorCode } from '../errors.ts';

/**
 * Why a collateral source could not produce collateral. The error `code` stays
 * `COLLATERAL_UNAVAILABLE` (stable, what callers branch on); `reason` narrows it
 * for logs and tests.
 */
export type CollateralFetchReason =
  /** The connection failed, was reset, or the body could not be read. */
  | 'network'
  /** No complete answer within the configured timeout. */
  | 'timeout'
  /** The server answered with a status other than 200. */
  | 'http-status'
  /** A required issuer-chain header is absent. */
  | 'missing-header'
  /** A header value is present but does not decode to a PEM certificate chain. */
  | 'malformed-header'
  /** The body does not parse as the expected PCS shape. */
  | 'malformed-body'
  /** The body is larger than the configured limit. */
  | 'too-large'
  /** The body parses but is for another FMSPC, TEE or CA than requested. */
  | 'mismatch'
  /** The request itself is invalid (e.g. an FMSPC that is not 6 bytes of hex); nothing was fetched. */
  | 'invalid-request';

/**
 * Collateral could not be fetched or parsed (`code` `COLLATERAL_UNAVAILABLE`).
 *
 * @example
 * try { await source.getCollateral(req) } catch (e) {
 *   if (e instanceof CollateralFetchError && e.reason === 'timeout') retryLater();
 * }
 */
export class CollateralFetchError extends CollateralUnavailableError {
  readonly reason: CollateralFetchReason;
  /** The URL involved, when there is one. */
  readonly url: string | undefined;
  /** HTTP status for `http-status`. */
  readonly status: number | undefined;
  constructor(
    reason: CollateralFetchReason,
    message: string,
    options?: { cause?: unknown; url?: string; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.url = options?.url;
    this.status = options?.status;
  }
}

/**
 * The source answered with collateral that is already past its `nextUpdate`
 * (`code` `COLLATERAL_EXPIRED`). It is never returned to the caller.
 */
export class CollateralStaleError extends CollateralExpiredError {
  /** The URL whose answer was stale. */
  readonly url: string | undefined;
  /** The item's nextUpdate, unix seconds. */
  readonly nextUpdate: number;
  constructor(message: string, nextUpdate: number, url?: string) {
    super(message);
    this.nextUpdate = nextUpdate;
    this.url = url;
  }
}

/** A collateral source was configured wrongly (bad base URL, bad option) (`code` `COLLATERAL_SOURCE_CONFIG`). */
export class CollateralSourceConfigError extends defineErrorCode('COLLATERAL_SOURCE_CONFIG') {}
