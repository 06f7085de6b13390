/**
 * What collateral a quote needs: TEE, FMSPC and PCK CA, read (not verified)
 * from the quote and its embedded PCK certificate.
 */
import { AttestationError, PckChainInvalidError } from '../errors.ts';
import { parseDcapQuote, parsePckExtensions, type DcapQuote } from '../tdx/index.ts';
import { parseCertificate, pemToDerList } from '../x509/index.ts';
import type { CollateralRequest } from './source.ts';

/**
 * Reads the collateral request for an Intel DCAP quote: `tee` from the quote
 * header, `fmspc` from the PCK leaf's SGX extension, `pckCa` from the leaf's
 * issuer. Parsing only: the verifier still checks the chain and signatures.
 * Throws the parser's typed errors, or `PckChainInvalidError` for an issuer
 * that is neither PCK CA.
 *
 * @example
 * const collateral = await pcs.getCollateral(collateralRequestFromQuote(quoteBytes));
 */
export function collateralRequestFromQuote(quote: Uint8Array | DcapQuote): CollateralRequest {
  const q = quote instanceof Uint8Array ? parseDcapQuote(quote) : quote;
  let leaf;
  try {
    const ders = pemToDerList(new TextDecoder().decode(q.pckChainPem));
    leaf = parseCertificate(ders[0]!);
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    throw new PckChainInvalidError(`quote PCK chain does not parse: ${(e as Error).message}`, { cause: e });
  }
  const { fmspc } = parsePckExtensions(leaf);
  const cn = /^CN=([^,]*)/.exec(leaf.issuer)?.[1];
  const pckCa = cn === 'Intel SGX PCK Platform CA' ? 'platform' : cn === 'Intel SGX PCK Processor CA' ? 'processor' : undefined;
  if (!pckCa) throw new PckChainInvalidError(`PCK certificate issuer is not an Intel PCK CA: ${leaf.issuer}`);
  return { tee: q.body.tee, fmspc, pckCa };
}
