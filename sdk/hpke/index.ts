export * from './errors.ts';
export * from './hpke.ts';
