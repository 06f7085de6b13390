export { parseSimulatedQuote, SIM_QUOTE_LENGTH, type SimulatedQuote } from './abi.ts';
export { SimulatedTee, simulatedMeasurement } from './tee.ts';
export { simulatedVerifier } from './verify.ts';
