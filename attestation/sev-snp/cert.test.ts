import { describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { toHex } from '../util/bytes.ts';
import { AMD_OID, extHwId, extInteger, extString, parseSnpCert, pemCertificates } from './cert.ts';

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'PASSED';
  } catch (e) {
    if (e instanceof AttestationError) return e.code;
    throw e;
  }
}

describe('SEV-SNP certificate view (parseSnpCert)', () => {
  const vcek = parseSnpCert(readSample('sev-snp/go-sev-guest/vcek.testcer'));
  const [askDer, arkDer] = pemCertificates(readSampleText('sev-snp/go-sev-guest/ask_ark_milan.pem'));

  it('exposes the raw slices and AMD extensions of a VCEK', () => {
    expect(vcek.subjectCn).toBe('SEV-VCEK');
    expect(vcek.issuerCn).toBe('SEV-Milan');
    expect(toHex(vcek.serial)).toBe('00');
    expect(toHex(vcek.sigAlg)).toBe(toHex(vcek.tbsSigAlg));
    expect(toHex(vcek.sigAlg).slice(4, 26)).toBe('06092a864886f70d01010a'); // RSASSA-PSS
    expect(vcek.signature.length).toBe(512);
    expect(extString(vcek, AMD_OID.productName)).toBe('Milan-B0');
    expect(extInteger(vcek, AMD_OID.blSpl)).toBeTypeOf('number');
    expect(extHwId(vcek)?.length).toBe(64);
    expect(Object.isFrozen(vcek)).toBe(true);
    expect(parseSnpCert(readSample('sev-snp/go-sev-guest/vcek.testcer'))).toBe(vcek); // cached
    const ark = parseSnpCert(arkDer!);
    expect(toHex(ark.sigAlg).slice(4, 26)).toBe('06092a864886f70d01010a');
    expect(parseSnpCert(askDer!).subjectCn).toBe('SEV-Milan');
  });

  it('malformed certificates and PEM are COLLATERAL_INVALID', () => {
    expect(codeOf(() => parseSnpCert(new Uint8Array([0x30, 0x03, 1, 2, 3])))).toBe('COLLATERAL_INVALID');
    expect(codeOf(() => parseSnpCert(vcek.der.subarray(0, 100)))).toBe('COLLATERAL_INVALID');
    expect(codeOf(() => pemCertificates('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----'))).toBe('COLLATERAL_INVALID');
  });
});
