import { describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { digest, fromHex, toHex } from '../util/bytes.ts';
import {
  assertNotRevoked,
  checkCertTime,
  checkCrlTime,
  checkIssuerConstraints,
  ecCurveOf,
  extensionValue,
  hasSignatureAlgorithm,
  nameAttribute,
  rsaPssAlgorithmIdentifiers,
  verifyCertificateSignature,
  verifyEcdsaRaw,
  verifyIssuedBy,
  decodeTime,
  derToPem,
  ecdsaDerToRaw,
  parseCertificate,
  parseCrl,
  pemToDerList,
  readWhole,
  verifyChain,
  verifyCrl,
  type Certificate,
} from './index.ts';
import { codeOf } from '../testkit.ts';

const iso = (s: string) => Date.parse(s) / 1000;


const root = parseCertificate(readSample('intel-common/dcap-qvl/TrustedRootCA.der'));

/** The PCK chain embedded in the dcap-qvl TDX sample's collateral (PCK CRL issuer chain: Platform CA, root). */
function intelPlatformChain(): Certificate[] {
  const c = JSON.parse(readSampleText('tdx/dcap-qvl/tdx_quote_collateral.json')) as { pck_crl_issuer_chain: string };
  return pemToDerList(c.pck_crl_issuer_chain).map(parseCertificate);
}

describe('parseCertificate', () => {
  it('parses the Intel SGX Root CA as SOURCES.md describes it', async () => {
    expect(root.subject).toBe('CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US');
    expect(root.issuer).toBe(root.subject);
    expect(root.serialNumber).toBe('22650cd65a9d3489f383b49552bf501b392706ac');
    expect(root.notBefore).toBe(iso('2018-05-21T10:45:10Z'));
    expect(root.notAfter).toBe(iso('2049-12-31T23:59:59Z'));
    expect(root.isCa).toBe(true);
    expect([...root.keyUsage!].sort()).toEqual(['crlSign', 'keyCertSign']);
    expect(root.keyCurve).toBe('1.2.840.10045.3.1.7');
    expect(toHex(root.publicKey)).toBe(
      '040ba9c4c0c0c86193a3fe23d6b02cda10a8bbd4e88e48b4458561a36e705525f567918e2edc88e40d860bd0cc4ee26aacc988e505a953558c453f6b0904ae7394',
    );
    expect(toHex(await digest('SHA-256', root.spki))).toBe('a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e');
  });

  it('accepts serial number 0 (AMD VCEKs)', () => {
    const vcek = parseCertificate(readSample('sev-snp/go-sev-guest/vcek.testcer'));
    expect(vcek.serialNumber).toBe('00');
    expect(vcek.keyCurve).toBe('1.3.132.0.34');
  });

  it('garbage is a typed CERT_CHAIN_INVALID error, never a crash', async () => {
    const der = root.der;
    const inputs = [new Uint8Array(0), new Uint8Array([0x30]), new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), der.subarray(0, 100)];
    for (let i = 0; i < der.length; i += 7) {
      const d = der.slice();
      d[i]! ^= 0x5a;
      inputs.push(d);
    }
    for (const d of inputs) {
      const code = await codeOf(() => parseCertificate(d));
      expect(['CERT_CHAIN_INVALID', 'PASSED']).toContain(code);
    }
    for (const d of inputs.slice(0, 4)) expect(await codeOf(() => parseCertificate(d))).toBe('CERT_CHAIN_INVALID');
  });
});

describe('PEM', () => {
  it('round-trips and is strict about text outside blocks when asked', () => {
    const pem = derToPem(root.der) + derToPem(root.der);
    expect(pemToDerList(pem).length).toBe(2);
    expect(pemToDerList(pem, 'CERTIFICATE', true)[1]).toEqual(root.der);
    expect(pemToDerList(pem + '\0', 'CERTIFICATE', true).length).toBe(2);
    const broken = pem.replace(/-----$/m, '----2');
    expect(() => pemToDerList(broken, 'CERTIFICATE', true)).toThrow(TypeError);
    expect(() => pemToDerList('nothing here')).toThrow(TypeError);
  });
});

describe('verifyChain', () => {
  const [platformCa] = intelPlatformChain();
  const now = iso('2025-07-01T00:00:00Z');

  it('verifies Intel PCK Platform CA -> pinned root (with or without the root in the chain)', async () => {
    const v = await verifyChain([platformCa!, root], { roots: [root], now });
    expect(v.path.length).toBe(2);
    const w = await verifyChain([platformCa!], { roots: [root], now });
    expect(w.path[1]).toBe(root);
    expect(v.notAfter).toBe(platformCa!.notAfter);
  });

  it('rejects a chain to another root, a reordered chain, and times outside the windows', async () => {
    const ark = parseCertificate(pemToDerList(readSampleText('sev-snp/go-sev-guest/ask_ark_milan.pem'))[1]!);
    expect(await codeOf(verifyChain([platformCa!, root], { roots: [ark], now }))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(verifyChain([root, platformCa!], { roots: [root], now }))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(verifyChain([platformCa!], { roots: [root], now: platformCa!.notBefore - 1 }))).toBe('CERT_NOT_YET_VALID');
    expect(await codeOf(verifyChain([platformCa!], { roots: [root], now: platformCa!.notAfter + 1 }))).toBe('CERT_EXPIRED');
  });

  it('a forged signature is rejected with the caller-chosen error', async () => {
    const der = platformCa!.der.slice();
    der[der.length - 5]! ^= 1; // inside the signature
    const forged = parseCertificate(der);
    const { PckChainInvalidError } = await import('../errors.ts');
    expect(await codeOf(verifyChain([forged], { roots: [root], now }))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(verifyChain([forged], { roots: [root], now, onInvalid: (m) => new PckChainInvalidError(m) }))).toBe(
      'PCK_CHAIN_INVALID',
    );
  });

  it('verifies RSA-PSS (AMD ASK -> ARK) and ECDSA P-384 (NVIDIA GPU chain) chains', async () => {
    const [ask, ark] = pemToDerList(readSampleText('sev-snp/go-sev-guest/ask_ark_milan.pem')).map(parseCertificate);
    const vcek = parseCertificate(readSample('sev-snp/go-sev-guest/vcek.testcer'));
    const v = await verifyChain([vcek, ask!], { roots: [ark!], now: iso('2024-01-01T00:00:00Z') });
    expect(v.path.length).toBe(3);
    const nv = pemToDerList(readSampleText('nvidia/nvtrust/hopperCertChain.txt')).map(parseCertificate);
    const nvRoot = parseCertificate(pemToDerList(readSampleText('nvidia/nvtrust/verifier_device_root.pem'))[0]!);
    const n = await verifyChain(nv, { roots: [nvRoot], now: iso('2024-06-01T00:00:00Z') });
    expect(n.path.length).toBe(5);
  });
});

describe('CRLs', () => {
  const rootCrl = parseCrl(readSample('tdx/go-tdx-guest/rootcrl.der'));
  const pckCrl = parseCrl(readSample('tdx/go-tdx-guest/pckcrl'));
  const [platformCa] = intelPlatformChain();

  it('parses and verifies the Intel Root CA CRL and PCK Platform CA CRL', async () => {
    expect(rootCrl.issuer).toBe(root.subject);
    expect(pckCrl.issuer).toBe(platformCa!.subject);
    expect(pckCrl.revokedSerials.size).toBe(44);
    const now = iso('2023-07-01T01:00:00Z');
    await verifyCrl(rootCrl, root, now);
    await verifyCrl(pckCrl, platformCa!, now);
  });

  it('time, signature and issuer checks', async () => {
    expect(await codeOf(() => checkCrlTime(pckCrl, pckCrl.thisUpdate - 1))).toBe('COLLATERAL_NOT_YET_VALID');
    expect(await codeOf(() => checkCrlTime(pckCrl, pckCrl.nextUpdate! + 1))).toBe('COLLATERAL_EXPIRED');
    expect(await codeOf(() => checkCrlTime(pckCrl, pckCrl.nextUpdate!))).toBe('PASSED');
    expect(await codeOf(verifyCrl(pckCrl, root, pckCrl.thisUpdate))).toBe('COLLATERAL_INVALID');
    const der = readSample('tdx/go-tdx-guest/rootcrl.der').slice();
    der[der.length - 3]! ^= 1;
    expect(await codeOf(verifyCrl(parseCrl(der), root, rootCrl.thisUpdate))).toBe('COLLATERAL_INVALID');
    expect(await codeOf(() => parseCrl(new Uint8Array([0x30, 0x03, 1, 2, 3])))).toBe('CERT_CHAIN_INVALID');
  });

  it('revocation by serial number, scoped to the CRL issuer', async () => {
    const serial = [...pckCrl.revokedSerials][0]!;
    const fakeLeaf = { ...root, issuerDer: pckCrl.issuerDer, serialNumber: serial, subject: 'CN=test leaf' } as Certificate;
    expect(await codeOf(() => assertNotRevoked(fakeLeaf, pckCrl))).toBe('CERT_REVOKED');
    expect(await codeOf(() => assertNotRevoked({ ...fakeLeaf, serialNumber: '01' }, pckCrl))).toBe('PASSED');
    expect(await codeOf(() => assertNotRevoked({ ...fakeLeaf, issuerDer: root.subjectDer }, pckCrl))).toBe('PASSED');
  });
});

describe('DER helpers', () => {
  it('converts ECDSA DER signatures to raw r||s and rejects malformed ones', () => {
    const sig = new Uint8Array([0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x05]);
    const raw = ecdsaDerToRaw(sig, 32)!;
    expect(raw[31]).toBe(0x80);
    expect(raw[63]).toBe(5);
    expect(ecdsaDerToRaw(new Uint8Array([0x30, 0x00]), 32)).toBeNull();
    expect(ecdsaDerToRaw(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x80]), 32)).toBeNull();
  });
  it('decodes UTCTime and GeneralizedTime', () => {
    const utc = readWhole(new Uint8Array([0x17, 0x0d, ...new TextEncoder().encode('491231235959Z')]));
    expect(decodeTime(utc)).toBe(iso('2049-12-31T23:59:59Z'));
    const gen = readWhole(new Uint8Array([0x18, 0x0f, ...new TextEncoder().encode('99991231235959Z')]));
    expect(decodeTime(gen)).toBe(iso('9999-12-31T23:59:59Z'));
  });
});

describe('building blocks for vendor chains', () => {
  const [ask, ark] = pemToDerList(readSampleText('sev-snp/go-sev-guest/ask_ark_milan.pem')).map(parseCertificate);
  const vcek = parseCertificate(readSample('sev-snp/go-sev-guest/vcek.testcer'));
  const nv = pemToDerList(readSampleText('nvidia/nvtrust/hopperCertChain.txt')).map(parseCertificate);

  it('exposes raw signature AlgorithmIdentifiers, issuer CN, name attributes and raw extensions', () => {
    expect(toHex(root.tbsSignatureAlgorithmDer)).toBe('300a06082a8648ce3d040302'); // ecdsa-with-SHA256
    expect(toHex(root.signatureAlgorithmDer)).toBe(toHex(root.tbsSignatureAlgorithmDer));
    expect(vcek.issuerCommonName).toBe('SEV-Milan');
    expect(vcek.subjectCommonName).toBe('SEV-VCEK');
    expect(nameAttribute(nv[0]!.subjectDer, '2.5.4.5')).toBe('53C22BA15E5D68088282DA074ED9FB37AA585771');
    expect(nameAttribute(nv[0]!.subjectDer, '2.5.4.11')).toBeUndefined();
    // AMD blSPL (1.3.6.1.4.1.3704.1.3.1): a DER INTEGER inside extnValue.
    expect(extensionValue(vcek, '1.3.6.1.4.1.3704.1.3.1')?.[0]).toBe(0x02);
    expect(extensionValue(vcek, '1.2.3.4')).toBeUndefined();
  });

  it('builds the RSA-PSS AlgorithmIdentifiers AMD uses and pins them byte-exactly', () => {
    const [plain, withTrailer] = rsaPssAlgorithmIdentifiers('SHA-384', 48);
    const params =
      'a00f300d06096086480165030402020500' + 'a11c301a06092a864886f70d010108300d06096086480165030402020500' + 'a203020130';
    expect(toHex(plain!)).toBe('3041' + '06092a864886f70d01010a' + '3034' + params);
    expect(toHex(withTrailer!)).toBe('3046' + '06092a864886f70d01010a' + '3039' + params + 'a303020101');
    expect(toHex(rsaPssAlgorithmIdentifiers('SHA-256', 200)[0]!)).toMatch(/a204020200c8$/); // salt 200 needs a sign octet
    const accepted = rsaPssAlgorithmIdentifiers('SHA-384', 48);
    expect([vcek, ask!, ark!].map((c) => hasSignatureAlgorithm(c, accepted))).toEqual([true, true, true]);
    expect(hasSignatureAlgorithm(vcek, rsaPssAlgorithmIdentifiers('SHA-384', 32))).toBe(false);
    expect(hasSignatureAlgorithm(root, accepted)).toBe(false);
    expect(hasSignatureAlgorithm({ ...vcek, tbsSignatureAlgorithmDer: root.signatureAlgorithmDer }, accepted)).toBe(false);
  });

  it('checks single links, CA constraints and labelled validity windows', async () => {
    expect(await verifyCertificateSignature(ark!, ark!)).toBe(true);
    expect(await verifyCertificateSignature(vcek, ark!)).toBe(false);
    expect(await codeOf(verifyIssuedBy(vcek, ask!, { caBelow: 0 }))).toBe('PASSED');
    expect(await codeOf(verifyIssuedBy(vcek, ark!))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(() => checkIssuerConstraints(vcek, 0))).toBe('CERT_CHAIN_INVALID'); // not a CA
    expect(await codeOf(() => checkIssuerConstraints(ask!, 1))).toBe('CERT_CHAIN_INVALID'); // pathLen 0
    expect(await codeOf(() => checkIssuerConstraints(ask!, 0))).toBe('PASSED');
    try {
      checkCertTime(vcek, vcek.notAfter + 1, 'SEV-VCEK');
      throw new Error('passed');
    } catch (e) {
      expect((e as AttestationError).code).toBe('CERT_EXPIRED');
      expect((e as Error).message).toMatch(/^SEV-VCEK expired at /);
    }
  });

  it('verifies raw r||s ECDSA with a certificate key and reports its curve', async () => {
    const data = new TextEncoder().encode('sealgate');
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
    const rs = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, pair.privateKey, data));
    const cert = { ...vcek, spki } as Certificate; // same curve (P-384) as the VCEK, another key
    expect(ecCurveOf(cert)).toEqual({ name: 'P-384', size: 48 });
    expect(ecCurveOf(ark!)).toBeUndefined();
    expect(await verifyEcdsaRaw(cert, 'SHA-384', rs, data)).toBe(true);
    expect(await verifyEcdsaRaw(cert, 'SHA-384', rs, fromHex('00'))).toBe(false);
    expect(await verifyEcdsaRaw(vcek, 'SHA-384', rs, data)).toBe(false);
    expect(await verifyEcdsaRaw(ark!, 'SHA-384', rs, data)).toBe(false);
  });
});
