import { describe, expect, it } from 'vitest';
import { AttestationError, CertChainInvalidError, defineErrorCode } from './errors.ts';
import { SnpKeyMismatchError } from './sev-snp/errors.ts';
import { X509ParseError } from './x509/errors.ts';

describe('defineErrorCode', () => {
  it('makes AttestationError subclasses with a fixed code, static and per instance', () => {
    class DemoError extends defineErrorCode('DEMO_CODE') {}
    const e = new DemoError('boom', { cause: 1 });
    expect(DemoError.code).toBe('DEMO_CODE');
    expect(e.code).toBe('DEMO_CODE');
    expect(e.message).toBe('boom');
    expect(e.cause).toBe(1);
    expect(e.name).toBe('DemoError');
    expect(e).toBeInstanceOf(AttestationError);
    expect(new SnpKeyMismatchError('x')).toBeInstanceOf(AttestationError);
    expect(new SnpKeyMismatchError('x').code).toBe('SNP_KEY_MISMATCH');
  });

  it('keeps classes that share a code distinct', () => {
    const e = new X509ParseError('bad DER');
    expect(e.code).toBe(CertChainInvalidError.code);
    expect(e).not.toBeInstanceOf(CertChainInvalidError);
  });

  it('accepts another base with the (code, message, options) constructor', () => {
    class OtherBase extends Error {
      readonly code: string;
      constructor(code: string, message: string, options?: { cause?: unknown }) {
        super(message, options);
        this.code = code;
      }
    }
    class OtherError extends defineErrorCode('OTHER', OtherBase) {}
    const e = new OtherError('m');
    expect(OtherError.code).toBe('OTHER');
    expect(e.code).toBe('OTHER');
    expect(e).toBeInstanceOf(OtherBase);
    expect(e).not.toBeInstanceOf(AttestationError);
  });
});
