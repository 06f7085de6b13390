import type { CollateralResolver } from '../verify.ts';
import { collateralRequestFromQuote } from './quote.ts';
import type { PcsCollateralSource } from './source.ts';

/**
 * A `CollateralResolver` that fetches Intel collateral for DCAP quotes from a
 * PCS/PCCS source (cached until `nextUpdate`); other kinds keep their own.
 *
 * @example
 * const verify = createBundleVerifier({ tee, gpu, collateral: intelCollateralResolver(createPcsCollateralSource({ baseUrl })) });
 */
export function intelCollateralResolver(source: PcsCollateralSource): CollateralResolver {
  return async (kind, evidence) => {
    if (kind !== 'tdx') return undefined;
    return source.getCollateral(collateralRequestFromQuote(evidence));
  };
}
