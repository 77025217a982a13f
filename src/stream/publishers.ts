// Stream protocol publishers: declare/delete, publish (v1 and v2 with filter values), the
// publish confirms, and de-duplication by producer reference.
//
// A publish frame's messages are copied into the stream's open chunk as the Osiris entries they
// already are: after a message's publishing id (and, in v2, its filter value) come exactly the
// bytes of a simple entry ([size][message]) or of a sub-batch entry. Everything one socket read
// published to one stream is one chunk; at the end of the read each publisher's publishing ids
// wait on that chunk's fdatasync, and go back in one PublishConfirm frame.
import type { StreamQueue, StreamListener } from '../broker/stream-queue';
import type { PendingChunk } from '../broker/stream-writer';
import { Cmd, Code, type FieldReader, StreamFrameError } from '../protocol/stream/frames';
import { SUBBATCH_HEADER_SIZE } from '../protocol/stream/chunk';
import { log } from '../logger';
import type { StreamConnection } from './connection';
import { findStream } from './commands';
import { afterReplicas, latest } from '../broker/replica-barrier';
import { countStreamError, streamCounters } from './stream-counters';

const MAX_REFERENCE = 256;

/** The publishing ids of one socket read, for one publisher. */
class ConfirmBatch {
  ids: Buffer = Buffer.allocUnsafe(8 * 64);
  count = 0;
  /** chunks the batch's stored messages went into, with the last offset in each */
  targets: PendingChunk[] = [];
  offsets: number[] = [];

  add(src: Buffer, p: number): void {
    if ((this.count + 1) * 8 > this.ids.length) {
      const b = Buffer.allocUnsafe(this.ids.length * 2);
      this.ids.copy(b, 0, 0, this.count * 8);
      this.ids = b;
    }
    const d = this.ids;
    const o = this.count * 8;
    for (let i = 0; i < 8; i++) d[o + i] = src[p + i];
    this.count++;
  }

  stored(target: PendingChunk, offset: number): void {
    const n = this.targets.length;
    if (n > 0 && this.targets[n - 1] === target) this.offsets[n - 1] = offset;
    else {
      this.targets.push(target);
      this.offsets.push(offset);
    }
  }
}

export class Publisher implements StreamListener {
  batch: ConfirmBatch | null = null;
  closed = false;
  /** messages received, confirmed and refused (publish errors), for management */
  published = 0;
  confirmed = 0;
  errored = 0;

  constructor(readonly c: StreamConnection, readonly id: number, readonly ref: string | null, readonly queue: StreamQueue) {
    queue.addListener(this);
  }

  readable(): void { /* publishers do not read */ }

  // The stream was deleted: the client is told its publisher is gone (metadata update).
  deleted(): void {
    if (this.closed) return;
    this.c.send(this.c.w.begin(Cmd.MetadataUpdate).u16(Code.StreamNotAvailable).string(this.queue.name).end());
    this.c.publishers.forget(this);
  }

  close(): void {
    this.closed = true;
    this.queue.removeListener(this);
  }
}

export class Publishers {
  private readonly byId = new Map<number, Publisher>();
  private touched: Publisher[] = [];

  constructor(private readonly c: StreamConnection) {}

  get count(): number {
    return this.byId.size;
  }

  get all(): Publisher[] {
    return [...this.byId.values()];
  }

  declare(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const id = r.u8();
    const ref = r.str();
    const stream = r.string();
    if (ref !== null && Buffer.byteLength(ref) > MAX_REFERENCE) return c.respond(Cmd.DeclarePublisher, corr, Code.PreconditionFailed);
    if (this.byId.has(id)) return c.respond(Cmd.DeclarePublisher, corr, Code.PreconditionFailed);
    const q = findStream(c, stream);
    if (q === null) return c.respond(Cmd.DeclarePublisher, corr, Code.StreamDoesNotExist);
    if (!c.permitted('write', stream)) return c.respond(Cmd.DeclarePublisher, corr, Code.AccessRefused);
    this.byId.set(id, new Publisher(c, id, ref === '' ? null : ref, q));
    c.respond(Cmd.DeclarePublisher, corr, Code.Ok);
  }

  delete(r: FieldReader): void {
    const corr = r.u32();
    const p = this.byId.get(r.u8());
    if (p === undefined) return this.c.respond(Cmd.DeletePublisher, corr, Code.PublisherDoesNotExist);
    this.forget(p);
    this.c.respond(Cmd.DeletePublisher, corr, Code.Ok);
  }

  forget(p: Publisher): void {
    p.close();
    if (this.byId.get(p.id) === p) this.byId.delete(p.id);
  }

  querySequence(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const ref = r.string();
    const stream = r.string();
    const q = findStream(c, stream);
    if (q === null) return c.send(c.w.response(Cmd.QueryPublisherSequence, corr, Code.StreamDoesNotExist).u64(0).end());
    if (!c.permitted('read', stream)) return c.send(c.w.response(Cmd.QueryPublisherSequence, corr, Code.AccessRefused).u64(0).end());
    const s = q.tracking.producers.get(ref);
    const w = c.w.response(Cmd.QueryPublisherSequence, corr, Code.Ok);
    if (s === undefined) w.u64(0);
    else w.u32(s.hi).u32(s.lo);
    c.send(w.end());
  }

  // Publish => PublisherId [PublishingId (FilterValue in v2) Entry]
  publish(r: FieldReader, version: number): void {
    const id = r.u8();
    const n = r.count(12);
    const p = this.byId.get(id);
    if (p === undefined || p.closed) return this.refuseAll(r, id, n, version, Code.PublisherDoesNotExist);
    const q = p.queue;
    if (q.deleted) return this.refuseAll(r, id, n, version, Code.StreamDoesNotExist);
    const buf = r.buf;
    const end = r.end;
    let pos = r.pos;
    const writer = q.writer;
    const ref = p.ref;
    let batch = p.batch;
    if (batch === null) {
      batch = p.batch = new ConfirmBatch();
      this.touched.push(p);
    }
    for (let i = 0; i < n; i++) {
      const idPos = pos;
      pos += 8;
      let filter: string | null = null;
      if (version >= 2) {
        if (pos + 2 > end) throw truncated();
        const fl = buf.readInt16BE(pos);
        pos += 2;
        if (fl >= 0) {
          if (pos + fl > end) throw truncated();
          filter = buf.toString('utf8', pos, pos + fl);
          pos += fl;
        }
      }
      if (pos + 4 > end) throw truncated();
      let entryEnd: number;
      let records = 1;
      if ((buf[pos] & 0x80) === 0) entryEnd = pos + 4 + buf.readUInt32BE(pos);
      else {
        if (pos + SUBBATCH_HEADER_SIZE > end) throw truncated();
        records = buf.readUInt16BE(pos + 1);
        entryEnd = pos + SUBBATCH_HEADER_SIZE + buf.readUInt32BE(pos + 7);
      }
      if (entryEnd > end) throw truncated();
      batch.add(buf, idPos);
      if (ref === null || writer.acceptProducerId(ref, buf, idPos)) {
        const target = writer.current; // before the add: a full chunk is appended by it
        const last = writer.addEntry(buf, pos, entryEnd, records, filter);
        batch.stored(target, last);
        q.publishCount += records;
      }
      pos = entryEnd;
    }
    r.pos = pos;
  }

  // A publish for a publisher that does not exist: every id gets a PublishError.
  private refuseAll(r: FieldReader, id: number, n: number, version: number, code: number): void {
    const c = this.c;
    countStreamError(code, n);
    const w = c.w.begin(Cmd.PublishError).u8(id).i32(n);
    for (let i = 0; i < n; i++) {
      const p = r.raw8();
      w.raw(r.buf.subarray(p, p + 8)).u16(code);
      if (version >= 2) {
        const fl = r.i16();
        if (fl > 0) r.pos += fl;
      }
      if (r.remaining < 4) throw truncated();
      // a simple entry: [u32 size][data]; a sub-batch: [7 bytes][u32 size][data]
      if ((r.buf[r.pos] & 0x80) !== 0) r.pos += 7;
      const size = r.u32();
      r.pos += size;
      if (r.pos > r.end) throw truncated();
    }
    c.send(w.end());
  }

  /** After a socket read: each publisher's ids wait for the sync of the chunk(s) they went into. */
  endOfRead(): void {
    const list = this.touched;
    if (list.length === 0) return;
    this.touched = [];
    for (const p of list) {
      const b = p.batch;
      p.batch = null;
      if (b === null || b.count === 0) continue;
      p.published += b.count;
      streamCounters.received += b.count;
      if (b.targets.length === 0) {
        this.confirm(p, b); // only duplicates: nothing to wait for
        continue;
      }
      const waits = b.targets.map((t, i) => t.whenSynced(b.offsets[i]));
      const all = afterReplicas(waits.length === 1 ? waits[0] : Promise.all(waits).then(latest));
      all.then(() => this.confirm(p, b), (e: Error) => this.error(p, b, e));
    }
  }

  private confirm(p: Publisher, b: ConfirmBatch): void {
    const c = this.c;
    if (c.state !== 'opened' || p.closed) return;
    p.confirmed += b.count;
    streamCounters.confirmed += b.count;
    const w = c.w.begin(Cmd.PublishConfirm).u8(p.id).i32(b.count);
    w.raw(b.ids.subarray(0, b.count * 8));
    c.send(w.end());
  }

  private error(p: Publisher, b: ConfirmBatch, e: Error): void {
    const c = this.c;
    log.warn(`Stream connection ${c.name}: ${b.count} message(s) of publisher ${p.id} on stream '${p.queue.name}' could not be stored: ${e.message}`);
    if (c.state !== 'opened' || p.closed) return;
    p.errored += b.count;
    countStreamError(Code.InternalError, b.count);
    const w = c.w.begin(Cmd.PublishError).u8(p.id).i32(b.count);
    for (let i = 0; i < b.count; i++) w.raw(b.ids.subarray(i * 8, i * 8 + 8)).u16(Code.InternalError);
    c.send(w.end());
  }

  closeAll(): void {
    for (const p of this.byId.values()) p.close();
    this.byId.clear();
    this.touched = [];
  }
}

function truncated(): StreamFrameError {
  return new StreamFrameError(Code.UnknownFrame, 'publish frame is truncated');
}
