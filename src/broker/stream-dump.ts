// A stream chunk as the messages it holds, for `warren log dump` (read-only tools).
import { amqp10To091, type Amqp091Form } from '../protocol/amqp10';
import { walkEntries } from '../protocol/stream/chunk';
import { readChunkExtension } from './stream-chunk';

export interface DumpedMessage {
  offset: number;
  timestamp: number;
  /** the 0-9-1 view of the message, or null when it is not an AMQP 1.0 message */
  message: Amqp091Form | null;
  /** a sub-batch entry (Stream protocol): its records, not split here */
  subBatch: number;
  filterValue: string | null;
  size: number;
}

export function chunkMessages(rec: { offset: number; timestamp: number; props: Buffer; body: Buffer }, streamName: string): DumpedMessage[] {
  const out: DumpedMessage[] = [];
  let ext: ReturnType<typeof readChunkExtension>;
  try {
    ext = readChunkExtension(rec.props);
  } catch {
    ext = { values: [], entryValues: null, producers: [] };
  }
  let offset = rec.offset;
  let entry = 0;
  walkEntries(rec.body, 0, rec.body.length, (e) => {
    const idx = ext.entryValues === null ? 0 : ext.entryValues[entry] ?? 0;
    entry++;
    let message: Amqp091Form | null = null;
    if (e.compression < 0) {
      try {
        message = amqp10To091(rec.body, e.start, e.end, streamName);
      } catch {
        message = null;
      }
    }
    out.push({ offset, timestamp: rec.timestamp, message, subBatch: e.compression < 0 ? 0 : e.records, filterValue: idx === 0 ? null : ext.values[idx - 1] ?? null, size: e.end - e.start });
    offset += e.records;
  });
  return out;
}
