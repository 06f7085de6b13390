/**
 * Intel DCAP collateral sources: PCS/PCCS response parsers and an HTTP
 * fetcher with a `nextUpdate`-aware cache, producing the TDX/SGX verifier's
 * `IntelCollateral`. Runtime-agnostic (Web `fetch`, no Node APIs).
 */
export {
  CollateralFetchError,
  CollateralStaleError,
  CollateralSourceConfigError,
  type CollateralFetchReason,
} from './errors.ts';
export {
  parseTcbInfoResponse,
  parseQeIdentityResponse,
  parsePckCrlResponse,
  parseRootCaCrlResponse,
  issuerChainFromHeaders,
  decodeIssuerChain,
  toIntelCollateral,
  itemsNextUpdate,
  ISSUER_CHAIN_HEADERS,
  type IntelTee,
  type PckCa,
  type SignedJsonItem,
  type TcbInfoItem,
  type CrlItem,
  type PcsResponseParts,
  type PcsCollateralItems,
} from './pcs.ts';
export {
  createPcsCollateralSource,
  createMemoryCollateralCache,
  INTEL_PCS_URL,
  INTEL_ROOT_CA_CRL_URL,
  type PcsCollateralSource,
  type PcsCollateralSourceOptions,
  type CollateralRequest,
  type PcsCollateral,
  type CollateralCache,
  type CachedCollateralItem,
} from './source.ts';
export { collateralRequestFromQuote } from './quote.ts';
export { intelCollateralResolver } from './resolver.ts';
