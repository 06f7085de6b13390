export * from './errors.ts';
export * from './hpke.ts';
export { nativeSupport } from './native.ts';
