/**
 * Structured gateway events. Only metadata: never prompt or completion text,
 * never keys or tokens.
 */
export type LogEvent =
  | { event: 'request'; requestId: string; endpoint: string; model: string; workerId: string | null; status: number; promptTokens: number; completionTokens: number; durationMs: number; outcome: string }
  | { event: 'worker.admitted'; workerId: string; url: string; kind: string; models: string[]; admittedUntil: number; insecure: boolean }
  | { event: 'worker.refused'; code: string; reason: string }
  | { event: 'worker.deregistered'; workerId: string }
  | { event: 'error'; requestId: string; status: number; code: string }
  | { event: 'billing.settle'; channel: string; claimed?: string; skipped?: string; error?: string };

export type Logger = (e: LogEvent) => void;

/** JSON lines on stderr. */
export const jsonLogger: Logger = (e) => {
  console.error(JSON.stringify({ t: new Date().toISOString(), ...e }));
};

export const silentLogger: Logger = () => {};
