import { MalformedEvidenceError, UnsupportedFormatError } from '../errors.ts';
import { utf8 } from '../util/bytes.ts';

/**
 * Simulated TEE quote (development only). Big-endian, fixed 228 bytes:
 *
 * | off | len | field |
 * |-----|-----|-------|
 * | 0   | 8   | magic `SGSIMQ01` |
 * | 8   | 8   | issuedAt, unix seconds |
 * | 16  | 4   | flags (bit 0: debug) |
 * | 20  | 48  | measurement |
 * | 68  | 64  | report data |
 * | 132 | 32  | signer Ed25519 public key |
 * | 164 | 64  | Ed25519 signature over bytes 0..163 |
 */
export const SIM_MAGIC = utf8('SGSIMQ01');
export const SIM_QUOTE_LENGTH = 228;
export const SIM_SIGNED_LENGTH = 164;
export const SIM_FLAG_DEBUG = 1;

export interface SimulatedQuote {
  issuedAt: number;
  debug: boolean;
  measurement: Uint8Array;
  reportData: Uint8Array;
  signer: Uint8Array;
  signature: Uint8Array;
  /** The bytes the signature covers. */
  signed: Uint8Array;
}

/** Parses a simulated quote; throws typed errors on any malformed input. */
export function parseSimulatedQuote(bytes: Uint8Array): SimulatedQuote {
  if (bytes.length < SIM_MAGIC.length || !SIM_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new UnsupportedFormatError('not a simulated quote (bad magic)');
  }
  if (bytes.length !== SIM_QUOTE_LENGTH) {
    throw new MalformedEvidenceError(`simulated quote must be ${SIM_QUOTE_LENGTH} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint32(16);
  if ((flags & ~SIM_FLAG_DEBUG) !== 0) throw new MalformedEvidenceError('unknown simulated quote flags');
  return {
    issuedAt: Number(view.getBigUint64(8)),
    debug: (flags & SIM_FLAG_DEBUG) !== 0,
    measurement: bytes.slice(20, 68),
    reportData: bytes.slice(68, 132),
    signer: bytes.slice(132, 164),
    signature: bytes.slice(164, 228),
    signed: bytes.slice(0, SIM_SIGNED_LENGTH),
  };
}

/** Serializes the signed part of a simulated quote. */
export function encodeSimulatedBody(q: Omit<SimulatedQuote, 'signature' | 'signed'>): Uint8Array {
  if (q.measurement.length !== 48 || q.reportData.length !== 64 || q.signer.length !== 32) {
    throw new MalformedEvidenceError('simulated quote field has the wrong length');
  }
  const out = new Uint8Array(SIM_SIGNED_LENGTH);
  const view = new DataView(out.buffer);
  out.set(SIM_MAGIC, 0);
  view.setBigUint64(8, BigInt(q.issuedAt));
  view.setUint32(16, q.debug ? SIM_FLAG_DEBUG : 0);
  out.set(q.measurement, 20);
  out.set(q.reportData, 68);
  out.set(q.signer, 132);
  return out;
}
