// Public API of the store: the segmented log (see ARCHITECTURE.md "The log" and log.ts).
export { SegmentedLog } from './log';
export type { LogOptions, LogCursor, SegmentInfo } from './log';
export { CACHE_RECORD_OVERHEAD, setTailCacheBudget, tailCacheBytes } from './tail-cache';
export { setMaxOpenFiles, openFileCount } from './fd-cache';
export { storeStats, watchWrites } from './store-stats';
export { writeBufferBytes } from './write-buffer';
export { HEADER_SIZE, MAX_RECORD_SIZE } from './record';
export type { LogRecord, LogRecordInput } from './record';
export { MetadataStore } from './metadata-store';
export type { MetadataStoreOptions } from './metadata-store';
