// The write side of a stream: everything published during one event-loop turn (over AMQP 0-9-1
// or the Stream protocol, from any number of connections) becomes one chunk, appended at the end
// of the turn or as soon as a publisher waits for its sync, whichever comes first.
//
// A publisher's confirm waits on the PendingChunk its messages went into (a SyncTarget): it
// appends the chunk if that has not happened yet, then waits for the log's fdatasync of the
// message's offset. A chunk whose append fails rejects every waiter, and the de-duplication
// state it advanced goes back, so the publisher's retries are stored, not dropped.
import { Amqp10Error } from '../protocol/amqp10/types';
import { amqp091To10, type ConvertInfo } from '../protocol/amqp10/convert';
import type { StreamLog } from '../store/stream-log';
import { ChunkBuilder } from './stream-chunk';
import { type ProducerState, type StreamTracking, idAfter } from './stream-tracking';
import type { SyncTarget } from './sync-points';

/** Osiris counts a chunk's entries in 16 bits. */
const MAX_ENTRIES = 0xffff;
/** a chunk is cut at this size even within a turn (bounded memory, bounded records) */
const MAX_CHUNK_BYTES = 8 * 1024 * 1024;

export class PendingChunk implements SyncTarget {
  appended = false;
  failed: Error | null = null;
  /** producers this chunk advanced, with their state before it */
  prev: Map<string, ProducerState | undefined> | null = null;

  constructor(private readonly writer: StreamWriter) {}

  whenSynced(offset: number): Promise<number> {
    if (!this.appended && this.failed === null) this.writer.flush();
    if (this.failed !== null) return Promise.reject(this.failed);
    return this.writer.stream.whenSynced(offset);
  }
}

export interface StreamWriterHooks {
  /** a chunk was appended (retention after a roll, readers) */
  appended(): void;
  warn(msg: string): void;
}

export class StreamWriter {
  readonly builder: ChunkBuilder;
  current: PendingChunk;
  private scheduled = false;
  private readonly info: ConvertInfo = { filterValue: null };

  constructor(readonly stream: StreamLog, filterSize: number, private readonly tracking: StreamTracking, private readonly hooks: StreamWriterHooks) {
    this.builder = new ChunkBuilder(filterSize);
    this.current = new PendingChunk(this);
  }

  /** The offset the next entry will get. */
  get nextOffset(): number {
    return this.stream.nextOffset + this.builder.records;
  }

  /**
   * An AMQP 0-9-1 message, converted to AMQP 1.0. Returns its offset, or -1 when its properties
   * cannot be converted (malformed).
   */
  add091(exchange: string, routingKey: string, props: Buffer, body: Buffer): number {
    const b = this.builder;
    const w = b.w;
    const mark = b.beginSimple();
    try {
      amqp091To10(w, exchange, routingKey, props, body, this.info);
    } catch (e) {
      if (!(e instanceof Amqp10Error)) throw e;
      w.pos = mark;
      return -1;
    }
    b.endSimple(mark);
    b.setFilterValue(this.info.filterValue);
    const offset = this.nextOffset - 1;
    this.entryAdded();
    return offset;
  }

  /** An entry already framed (Stream protocol publish); returns the offset of its last record. */
  addEntry(src: Buffer, start: number, end: number, records: number, filterValue: string | null): number {
    const b = this.builder;
    b.addEntry(src, start, end, records);
    b.setFilterValue(filterValue);
    const last = this.nextOffset - 1;
    this.entryAdded();
    return last;
  }

  /**
   * De-duplication for a named producer: false when publishing id src[p..p+8) is not newer
   * than the last one stored (the message is dropped, and confirmed); else the id is recorded.
   */
  acceptProducerId(ref: string, src: Buffer, p: number): boolean {
    const hi = src.readUInt32BE(p);
    const lo = src.readUInt32BE(p + 4);
    const producers = this.tracking.producers;
    const cur = producers.get(ref);
    if (cur !== undefined && !idAfter(hi, lo, cur)) return false;
    const c = this.current;
    const prev = (c.prev ??= new Map());
    if (!prev.has(ref)) prev.set(ref, cur === undefined ? undefined : { hi: cur.hi, lo: cur.lo });
    if (cur === undefined) producers.set(ref, { hi, lo });
    else { cur.hi = hi; cur.lo = lo; }
    this.builder.noteProducer(ref, src, p);
    return true;
  }

  private entryAdded(): void {
    const b = this.builder;
    if (b.entries >= MAX_ENTRIES || b.w.pos >= MAX_CHUNK_BYTES) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushCb);
    }
  }

  private readonly flushCb = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Appends the pending chunk, if any. Never throws: a failure rejects the chunk's waiters. */
  flush(): void {
    const b = this.builder;
    const pending = this.current;
    if (b.empty) return;
    this.current = new PendingChunk(this);
    const ts = Math.max(Date.now(), this.stream.newestTimestamp);
    const chunk = b.build(this.stream.nextOffset, ts);
    try {
      this.stream.append(chunk.props, chunk.body, chunk.count, ts, chunk.summary);
      pending.appended = true;
    } catch (e) {
      pending.failed = e as Error;
      this.hooks.warn(`a chunk of ${chunk.count} message(s) could not be written (${(e as Error).message}); their publishers get a negative confirm`);
      if (pending.prev !== null) {
        for (const [ref, s] of pending.prev) {
          if (s === undefined) this.tracking.producers.delete(ref);
          else this.tracking.producers.set(ref, s);
        }
      }
      return;
    }
    this.hooks.appended();
  }
}
