export type { ApiKeyRecord, ReceiptRecord, RequestLogRecord, Storage, WorkerRecord } from './types.ts';
export { SqlStorage, SCHEMA, type SqlExecutor } from './sql.ts';
