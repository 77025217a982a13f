// Process-wide counters of the store, for /metrics and the management API.
export const storeStats = {
  /** records found damaged (CRC, framing) by reads or recovery and skipped */
  corruptRecords: 0,
  /** fdatasync calls that failed */
  syncFailures: 0,
  /** writes (data, index, acks) that failed and are retried */
  writeFailures: 0,
  /** bytes read from segment files (every read: cursors, reads, recovery, streams) */
  bytesRead: 0,
};
