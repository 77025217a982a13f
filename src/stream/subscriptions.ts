// Stream protocol subscriptions: subscribe with an offset specification, credit-based delivery
// of whole chunks (one credit per chunk), unsubscribe. A chunk goes out as the Deliver frame
// header, its stored 48-byte Osiris header and its data, both as they are in the log: no
// per-message work. A subscription stops when it has no credit or when the socket has more than
// OUTPUT_LIMIT bytes waiting (a slow consumer never makes the broker buffer without bound); the
// socket's drain and new credit start it again.
import type { StreamConsumerInfo, StreamQueue, StreamListener } from '../broker/stream-queue';
import type { OffsetSpec } from '../broker/stream-args';
import { type StreamFilter, bloomMatches } from '../broker/stream-bloom';
import { CHUNK_HEADER_SIZE } from '../protocol/stream/chunk';
import { ZERO_COPY_THRESHOLD } from '../protocol/content-frames';
import { Cmd, Code, type FieldReader, RESPONSE } from '../protocol/stream/frames';
import type { StreamReader, FilteredReader } from '../store/stream-log';
import type { LogRecord } from '../store';
import type { StreamConnection } from './connection';
import { findStream } from './commands';

const OUTPUT_LIMIT = 4 * 1024 * 1024;

export class Subscription implements StreamListener {
  private readonly reader: StreamReader | FilteredReader;
  private scheduled = false;
  closed = false;
  chunksDelivered = 0;
  messagesDelivered = 0;

  constructor(
    private readonly owner: Subscriptions,
    readonly c: StreamConnection,
    readonly id: number,
    readonly queue: StreamQueue,
    start: number,
    public credit: number,
    readonly filter: StreamFilter | null,
    readonly reference: string | null,
  ) {
    const sl = queue.stream;
    this.reader = filter === null ? sl.reader(start) : sl.filteredReader(start, (s) => bloomMatches(s, filter));
    queue.addListener(this);
  }

  /** the next offset this subscription reads */
  get position(): number {
    return this.reader.position;
  }

  readable(): void {
    this.schedule();
  }

  describe(): StreamConsumerInfo {
    return { protocol: 'stream', tag: `${this.c.name} #${this.id}${this.reference !== null ? ` (${this.reference})` : ''}`, offset: this.position, delivered: this.messagesDelivered };
  }

  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(this.pumpCb);
  }

  private readonly pumpCb = (): void => {
    this.scheduled = false;
    try {
      this.pump();
    } catch (e) {
      this.c.closeWith(Code.InternalError, `delivery failed: ${(e as Error).message}`);
    }
  };

  private pump(): void {
    const c = this.c;
    while (this.credit > 0 && !this.closed && c.state === 'opened') {
      if (c.out.backlog > OUTPUT_LIMIT) return; // resumed on drain
      const rec = this.reader.next();
      if (rec === undefined) return; // resumed when the stream has more
      this.deliver(rec);
      this.credit--;
    }
  }

  private deliver(rec: LogRecord): void {
    const c = this.c;
    const out = c.out;
    const v2 = c.deliverV2;
    const body = rec.body;
    const head = 4 + 2 + 2 + 1 + (v2 ? 8 : 0) + CHUNK_HEADER_SIZE;
    const zeroCopy = body.length >= ZERO_COPY_THRESHOLD;
    const b = out.reserve(head + (zeroCopy ? 0 : body.length));
    let p = out.pos;
    b.writeUInt32BE(head - 4 + body.length, p);
    b.writeUInt16BE(Cmd.Deliver, p + 4);
    b.writeUInt16BE(v2 ? 2 : 1, p + 6);
    b[p + 8] = this.id;
    p += 9;
    if (v2) {
      const committed = this.queue.stream.lastChunkOffset;
      const hi = Math.floor(committed / 4294967296);
      b.writeUInt32BE(hi, p);
      b.writeUInt32BE(committed - hi * 4294967296, p + 4);
      p += 8;
    }
    rec.props.copy(b, p, 0, CHUNK_HEADER_SIZE);
    p += CHUNK_HEADER_SIZE;
    if (zeroCopy) {
      out.commit(p);
      out.writeZeroCopy(body);
    } else {
      body.copy(b, p);
      out.commit(p + body.length);
    }
    this.chunksDelivered++;
    this.messagesDelivered += rec.count;
    this.queue.deliverCount += rec.count;
  }

  // The stream was deleted under the subscription: metadata update, the subscription goes.
  deleted(): void {
    if (this.closed) return;
    this.c.send(this.c.w.begin(Cmd.MetadataUpdate).u16(Code.StreamNotAvailable).string(this.queue.name).end());
    this.owner.forget(this);
  }

  close(): void {
    this.closed = true;
    this.queue.removeListener(this);
  }
}

export class Subscriptions {
  private readonly byId = new Map<number, Subscription>();

  constructor(private readonly c: StreamConnection) {}

  get all(): Subscription[] {
    return [...this.byId.values()];
  }

  // Subscribe => SubscriptionId Stream OffsetSpecification Credit Properties
  subscribe(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const id = r.u8();
    const stream = r.string();
    const type = r.u16();
    let spec: OffsetSpec | null = null;
    switch (type) {
      case 1: spec = { kind: 'first' }; break;
      case 2: spec = { kind: 'last' }; break;
      case 3: spec = { kind: 'next' }; break;
      case 4: spec = { kind: 'offset', offset: r.u64() }; break;
      case 5: spec = { kind: 'timestamp', ms: r.i64() }; break;
    }
    const credit = r.u16();
    const props = r.remaining > 0 ? r.properties() : new Map<string, string>();
    if (spec === null) return c.respond(Cmd.Subscribe, corr, Code.PreconditionFailed);
    if (this.byId.has(id)) return c.respond(Cmd.Subscribe, corr, Code.SubscriptionIdAlreadyExists);
    const q = findStream(c, stream);
    if (q === null) return c.respond(Cmd.Subscribe, corr, Code.StreamDoesNotExist);
    if (!c.permitted('read', stream)) return c.respond(Cmd.Subscribe, corr, Code.AccessRefused);
    // single active consumer is not implemented: refused rather than silently ignored
    if (props.get('single-active-consumer') === 'true') return c.respond(Cmd.Subscribe, corr, Code.PreconditionFailed);
    const values: string[] = [];
    for (const [k, v] of props) if (/^filter\.\d+$/.test(k)) values.push(v);
    const filter: StreamFilter | null = values.length > 0 ? { values, matchUnfiltered: props.get('match-unfiltered') === 'true' } : null;
    const start = q.resolveOffset(spec);
    const s = new Subscription(this, c, id, q, start, credit, filter, props.get('name') ?? null);
    this.byId.set(id, s);
    c.respond(Cmd.Subscribe, corr, Code.Ok);
    s.schedule();
  }

  credit(r: FieldReader): void {
    const id = r.u8();
    const n = r.u16();
    const s = this.byId.get(id);
    if (s === undefined) {
      // the only response to credit: for an unknown subscription (no correlation id)
      this.c.send(this.c.w.begin(Cmd.Credit | RESPONSE).u16(Code.SubscriptionIdDoesNotExist).u8(id).end());
      return;
    }
    s.credit = Math.min(0xffffffff, s.credit + n);
    s.schedule();
  }

  unsubscribe(r: FieldReader): void {
    const corr = r.u32();
    const s = this.byId.get(r.u8());
    if (s === undefined) return this.c.respond(Cmd.Unsubscribe, corr, Code.SubscriptionIdDoesNotExist);
    this.forget(s);
    this.c.respond(Cmd.Unsubscribe, corr, Code.Ok);
  }

  forget(s: Subscription): void {
    s.close();
    if (this.byId.get(s.id) === s) this.byId.delete(s.id);
  }

  /** The socket drained: subscriptions held back by the output limit continue. */
  resume(): void {
    for (const s of this.byId.values()) if (s.credit > 0) s.schedule();
  }

  consumerUpdateAnswer(_r: FieldReader): void {
    /* single active consumer is not implemented: no query is ever sent */
  }

  closeAll(): void {
    for (const s of this.byId.values()) s.close();
    this.byId.clear();
  }
}
