// Public API of the store: the segmented log (see ../../docs and ARCHITECTURE.md "The log").
export { SegmentedLog, CACHE_RECORD_OVERHEAD } from './log';
export type { LogOptions, LogCursor, SegmentStat } from './log';
export { CorruptRecordError, HEADER_SIZE, MAX_RECORD_SIZE } from './record';
export type { LogRecord, LogRecordInput } from './record';
export { MetadataStore } from './metadata-store';
export type { MetadataStoreOptions } from './metadata-store';
