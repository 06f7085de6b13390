import type { RequestLogRecord, Storage } from '../storage/types.ts';

/**
 * Buffers request-log rows and writes them in batches, so no storage write
 * sits on a request's hot path. `flush()` on shutdown writes what is left.
 */
export class RequestLog {
  private buffer: RequestLogRecord[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly storage: Storage,
    private readonly flushMs = 100,
    private readonly maxBatch = 256,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  add(row: RequestLogRecord): void {
    this.buffer.push(row);
    if (this.buffer.length >= this.maxBatch) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** Writes every buffered row; resolves when storage has them. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const rows = this.buffer;
    this.buffer = [];
    this.writing = this.writing.then(() => (rows.length ? this.storage.logRequests(rows) : undefined)).catch(this.onError);
    return this.writing;
  }
}
