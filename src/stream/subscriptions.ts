// Stream protocol subscriptions: subscribe with an offset specification, credit-based delivery
// of whole chunks (one credit per chunk), unsubscribe. A chunk goes out as the Deliver frame
// header, its stored 48-byte Osiris header and its data, both as they are in the log: no
// per-message work. A subscription stops when it has no credit or when the socket has more than
// OUTPUT_LIMIT bytes waiting (a slow consumer never makes the broker buffer without bound); the
// socket's drain and new credit start it again.
//
// A subscription made with single-active-consumer=true joins its group (sac-groups.ts) and
// delivers only while the group has it active. Activation is a consumer update request to the
// client, whose answer names the offset to start from (none: the subscription's own); until the
// answer comes nothing is delivered, and credit received meanwhile is kept.
import type { StreamConsumerInfo, StreamQueue, StreamListener } from '../broker/stream-queue';
import type { OffsetSpec } from '../broker/stream-args';
import { type StreamFilter, bloomMatches } from '../broker/stream-bloom';
import { CHUNK_HEADER_SIZE } from '../protocol/stream/chunk';
import { ZERO_COPY_THRESHOLD } from '../protocol/content-frames';
import { Cmd, Code, type FieldReader, RESPONSE } from '../protocol/stream/frames';
import type { StreamReader, FilteredReader } from '../store/stream-log';
import type { LogRecord } from '../store';
import type { StreamConnection } from './connection';
import { findStream, superStreamPartitions } from './commands';
import { log } from '../logger';
import { streamCounters } from './stream-counters';
import { type SacGroups, type SacMember, sacGroupKey } from './sac-groups';

const OUTPUT_LIMIT = 4 * 1024 * 1024;

// OffsetSpecification => OffsetType [Offset]: null for type 0 (none) and for unknown types
function readOffsetSpec(r: FieldReader): OffsetSpec | null {
  switch (r.u16()) {
    case 1: return { kind: 'first' };
    case 2: return { kind: 'last' };
    case 3: return { kind: 'next' };
    case 4: return { kind: 'offset', offset: r.u64() };
    case 5: return { kind: 'timestamp', ms: r.i64() };
    default: return null;
  }
}

/** A single active consumer subscription's group, and where it starts when the client says "none". */
interface SacState { readonly key: string; readonly spec: OffsetSpec }

export class Subscription implements StreamListener, SacMember {
  private reader: StreamReader | FilteredReader;
  private scheduled = false;
  /** false for a single active consumer that its group has not activated (or not yet heard back) */
  private delivering: boolean;
  closed = false;
  chunksDelivered = 0;
  messagesDelivered = 0;
  /** first offset of the last chunk delivered (-1: none yet), for management */
  lastChunk = -1;

  constructor(
    private readonly owner: Subscriptions,
    readonly c: StreamConnection,
    readonly id: number,
    readonly queue: StreamQueue,
    start: number,
    public credit: number,
    readonly filter: StreamFilter | null,
    readonly reference: string | null,
    readonly sac: SacState | null,
    /** the subscribe request's properties, as management shows them */
    readonly properties: ReadonlyMap<string, string>,
  ) {
    this.reader = this.readerAt(start);
    this.delivering = sac === null;
    queue.addListener(this);
  }

  private readerAt(start: number): StreamReader | FilteredReader {
    const sl = this.queue.stream;
    const filter = this.filter;
    return filter === null ? sl.reader(start) : sl.filteredReader(start, (s) => bloomMatches(s, filter));
  }

  /** The group's decision (SacMember): the client is told, and answers (consumerUpdateAnswer). */
  activate(active: boolean): void {
    // a deleted stream's subscriptions leave their group one by one: no news for the others
    if (this.closed || this.queue.deleted) return;
    if (!active) this.delivering = false;
    this.owner.askConsumerUpdate(this, active);
  }

  /** The client's answer to an activation: deliver from `spec` (null: the subscription's own). */
  startAt(spec: OffsetSpec | null): void {
    if (this.closed || this.sac === null) return;
    this.reader = this.readerAt(this.queue.resolveOffset(spec ?? this.sac.spec));
    this.delivering = true;
    this.schedule();
  }

  /** false while a single active consumer waits for its turn */
  get active(): boolean {
    return this.delivering;
  }

  /** the next offset this subscription reads */
  get position(): number {
    return this.reader.position;
  }

  readable(): void {
    this.schedule();
  }

  describe(): StreamConsumerInfo {
    const ref = this.reference !== null ? ` (${this.reference}${this.sac !== null && !this.delivering ? ', waiting' : ''})` : '';
    return { protocol: 'stream', tag: `${this.c.name} #${this.id}${ref}`, offset: this.position, delivered: this.messagesDelivered };
  }

  schedule(): void {
    if (this.scheduled || this.closed || !this.delivering) return;
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
    while (this.credit > 0 && !this.closed && this.delivering && c.state === 'opened') {
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
    this.lastChunk = rec.offset;
    this.messagesDelivered += rec.count;
    this.queue.deliverCount += rec.count;
    streamCounters.delivered += rec.count;
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
  /** consumer update requests sent to the client, by correlation id */
  private readonly asked = new Map<number, { s: Subscription; active: boolean }>();
  private nextCorrelation = 1;

  constructor(private readonly c: StreamConnection, private readonly sac: SacGroups) {}

  get all(): Subscription[] {
    return [...this.byId.values()];
  }

  // Subscribe => SubscriptionId Stream OffsetSpecification Credit Properties
  subscribe(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const id = r.u8();
    const stream = r.string();
    const spec = readOffsetSpec(r);
    const credit = r.u16();
    const props = r.remaining > 0 ? r.properties() : new Map<string, string>();
    if (spec === null) return c.respond(Cmd.Subscribe, corr, Code.PreconditionFailed);
    if (this.byId.has(id)) return c.respond(Cmd.Subscribe, corr, Code.SubscriptionIdAlreadyExists);
    const q = findStream(c, stream);
    if (q === null) return c.respond(Cmd.Subscribe, corr, Code.StreamDoesNotExist);
    if (!c.permitted('read', stream)) return c.respond(Cmd.Subscribe, corr, Code.AccessRefused);
    const name = props.get('name') ?? null;
    let sac: SacState | null = null;
    let partition = -1;
    if (props.get('single-active-consumer') === 'true') {
      // as RabbitMQ: the group is named by the consumer name, so there is none without one
      if (name === null || name === '') return c.respond(Cmd.Subscribe, corr, Code.PreconditionFailed);
      sac = { key: sacGroupKey(c.vhost!.name, stream, name), spec };
      const superStream = props.get('super-stream');
      if (superStream !== undefined) partition = superStreamPartitions(c.vhost!, superStream)?.indexOf(stream) ?? -1;
    }
    const values: string[] = [];
    for (const [k, v] of props) if (/^filter\.\d+$/.test(k)) values.push(v);
    const filter: StreamFilter | null = values.length > 0 ? { values, matchUnfiltered: props.get('match-unfiltered') === 'true' } : null;
    const start = q.resolveOffset(spec);
    const s = new Subscription(this, c, id, q, start, credit, filter, name, sac, props);
    this.byId.set(id, s);
    c.respond(Cmd.Subscribe, corr, Code.Ok);
    if (sac !== null) this.sac.join(sac.key, partition, s);
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
    if (s.sac !== null) this.sac.leave(s.sac.key, s);
  }

  /** The socket drained: subscriptions held back by the output limit continue. */
  resume(): void {
    for (const s of this.byId.values()) if (s.credit > 0) s.schedule();
  }

  // ConsumerUpdate (server to client) => CorrelationId SubscriptionId Active
  askConsumerUpdate(s: Subscription, active: boolean): void {
    const c = this.c;
    if (c.state !== 'opened') return;
    const corr = this.nextCorrelation;
    this.nextCorrelation = corr === 0xffffffff ? 1 : corr + 1;
    this.asked.set(corr, { s, active });
    c.send(c.w.begin(Cmd.ConsumerUpdate).u32(corr).u8(s.id).u8(active ? 1 : 0).end());
  }

  // ConsumerUpdateResponse => CorrelationId ResponseCode OffsetType [Offset]
  consumerUpdateAnswer(r: FieldReader): void {
    const corr = r.u32();
    const code = r.u16();
    const spec = readOffsetSpec(r);
    const q = this.asked.get(corr);
    if (q === undefined) return; // not asked, or asked of a subscription that has gone
    this.asked.delete(corr);
    const { s, active } = q;
    if (s.closed || s.sac === null) return;
    if (!active) {
      this.sac.steppedDown(s.sac.key, s);
      return;
    }
    // an answer to an activation the group has taken back since (told to step down) is stale
    if (!this.sac.isActive(s.sac.key, s)) return;
    if (code !== Code.Ok) log.warn(`Stream connection ${this.c.name}: consumer update answered with code ${code}; subscription ${s.id} starts from its own offset`);
    s.startAt(code === Code.Ok ? spec : null);
  }

  closeAll(): void {
    const all = [...this.byId.values()];
    this.byId.clear();
    this.asked.clear();
    for (const s of all) {
      s.close();
      if (s.sac !== null) this.sac.leave(s.sac.key, s);
    }
  }
}
