// The Stream protocol's commands about streams themselves: create, delete, metadata, stream
// stats, consumer offsets (store/query), and super streams (a direct exchange whose bindings
// name its partitions, in the order of their x-stream-partition-order argument).
import { AmqpError } from '../broker/errors';
import { StreamQueue } from '../broker/stream-queue';
import type { FieldTable } from '../protocol';
import { Cmd, Code, type FieldReader } from '../protocol/stream/frames';
import { log } from '../logger';
import type { VHost } from '../broker/vhost';
import type { StreamConnection } from './connection';

/** The stream queue of that name in the connection's vhost, or null. */
export function findStream(c: StreamConnection, name: string): StreamQueue | null {
  const q = c.vhost?.queues.get(name);
  return q instanceof StreamQueue && !q.deleted ? q : null;
}

// Create arguments (strings) -> queue arguments, as rabbit_stream_utils does.
const NUMERIC_ARGS = new Set(['max-length-bytes', 'stream-max-segment-size-bytes', 'initial-cluster-size', 'stream-filter-size-bytes']);
const STRING_ARGS = new Set(['max-age', 'queue-leader-locator']);

function queueArguments(args: Map<string, string>): FieldTable | null {
  const out: FieldTable = { 'x-queue-type': 'stream' };
  for (const [k, v] of args) {
    if (NUMERIC_ARGS.has(k)) {
      if (!/^\d+$/.test(v)) return null;
      out[`x-${k}`] = Number(v);
    } else if (STRING_ARGS.has(k)) out[`x-${k}`] = v;
  }
  return out;
}

const PARTITION_ORDER = 'x-stream-partition-order';

/** The partitions of a super stream in order, or null when there is no such super stream. */
export function superStreamPartitions(vh: VHost, superStream: string): string[] | null {
  const x = vh.exchanges.get(superStream);
  if (x === undefined || superStream === '') return null;
  const bound = x.bindings.filter((b) => b.dest.kind === 'queue');
  const order = (b: (typeof bound)[number]) => {
    const o = b.args[PARTITION_ORDER];
    return typeof o === 'number' ? o : Number.MAX_SAFE_INTEGER;
  };
  bound.sort((a, b) => order(a) - order(b));
  const out: string[] = [];
  for (const b of bound) if (!out.includes(b.dest.name)) out.push(b.dest.name);
  return out;
}

export class StreamCommands {
  constructor(private readonly c: StreamConnection) {}

  create(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const name = r.string();
    const args = r.properties();
    c.respond(Cmd.Create, corr, this.createStream(name, args));
  }

  private createStream(name: string, args: Map<string, string>): number {
    const c = this.c;
    if (name === '' || name.startsWith('amq.')) return Code.PreconditionFailed;
    if (!c.permitted('configure', name)) return Code.AccessRefused;
    const vh = c.vhost!;
    if (vh.queues.has(name)) return Code.StreamAlreadyExists;
    const qargs = queueArguments(args);
    if (qargs === null) return Code.PreconditionFailed;
    try {
      vh.declareQueue(name, { passive: false, durable: true, exclusive: false, autoDelete: false, args: qargs }, c);
      return Code.Ok;
    } catch (e) {
      if (e instanceof AmqpError) {
        log.warn(`Stream connection ${c.name}: cannot create stream '${name}': ${e.replyText}`);
        return Code.PreconditionFailed;
      }
      throw e;
    }
  }

  delete(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const name = r.string();
    c.respond(Cmd.Delete, corr, this.deleteStream(name));
  }

  private deleteStream(name: string): number {
    const c = this.c;
    if (findStream(c, name) === null) return Code.StreamDoesNotExist;
    if (!c.permitted('configure', name)) return Code.AccessRefused;
    c.vhost!.deleteQueue(name, false, false, c);
    return Code.Ok;
  }

  metadata(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const n = r.count(2);
    const names: string[] = [];
    for (let i = 0; i < n; i++) names.push(r.string());
    // one broker, reference 0: the address this client reached
    const w = c.w.begin(Cmd.Metadata | 0x8000).u32(corr);
    w.i32(1).u16(0).string(c.advertisedHost).u32(c.config.port);
    w.i32(names.length);
    for (const name of names) {
      if (findStream(c, name) !== null) w.string(name).u16(Code.Ok).u16(0).i32(0);
      else w.string(name).u16(Code.StreamDoesNotExist).u16(0xffff).i32(0);
    }
    c.send(w.end());
  }

  stats(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const name = r.string();
    const q = findStream(c, name);
    if (q === null) return c.send(c.w.response(Cmd.StreamStats, corr, Code.StreamDoesNotExist).i32(0).end());
    if (!c.permitted('read', name)) return c.send(c.w.response(Cmd.StreamStats, corr, Code.AccessRefused).i32(0).end());
    const s = q.stream;
    const empty = s.nextOffset === s.startOffset;
    c.send(c.w.response(Cmd.StreamStats, corr, Code.Ok).i32(3)
      .string('first_chunk_id').i64(empty ? -1 : s.startOffset)
      .string('committed_chunk_id').i64(empty ? -1 : s.lastChunkOffset)
      .string('last_chunk_id').i64(empty ? -1 : s.lastChunkOffset)
      .end());
  }

  storeOffset(r: FieldReader): void {
    const c = this.c;
    const ref = r.string();
    const name = r.string();
    const offset = r.u64();
    const q = findStream(c, name);
    // no response to store offset, even for errors (as RabbitMQ)
    if (q === null || ref === '' || Buffer.byteLength(ref) > 256 || !c.permitted('read', name)) {
      log.debug(`Stream connection ${c.name}: store offset for '${ref}' on '${name}' ignored`);
      return;
    }
    q.tracking.storeOffset(ref, offset);
  }

  queryOffset(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const ref = r.string();
    const name = r.string();
    const q = findStream(c, name);
    if (q === null) return c.send(c.w.response(Cmd.QueryOffset, corr, Code.StreamDoesNotExist).u64(0).end());
    if (!c.permitted('read', name)) return c.send(c.w.response(Cmd.QueryOffset, corr, Code.AccessRefused).u64(0).end());
    const off = q.tracking.offsets.get(ref);
    if (off === undefined) return c.send(c.w.response(Cmd.QueryOffset, corr, Code.NoOffset).u64(0).end());
    c.send(c.w.response(Cmd.QueryOffset, corr, Code.Ok).u64(off).end());
  }

  // ---- super streams ------------------------------------------------------------------------------

  private partitionsOf(superStream: string): string[] | null {
    return superStreamPartitions(this.c.vhost!, superStream);
  }

  route(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const key = r.string();
    const superStream = r.string();
    const parts = this.partitionsOf(superStream);
    if (parts === null) return c.send(c.w.response(Cmd.Route, corr, Code.StreamDoesNotExist).i32(0).end());
    const x = c.vhost!.exchanges.get(superStream)!;
    const hits = x.bindings.filter((b) => b.dest.kind === 'queue' && b.routingKey === key).map((b) => b.dest.name);
    const ordered = parts.filter((p) => hits.includes(p));
    const w = c.w.response(Cmd.Route, corr, Code.Ok).i32(ordered.length);
    for (const s of ordered) w.string(s);
    c.send(w.end());
  }

  partitions(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const superStream = r.string();
    const parts = this.partitionsOf(superStream);
    if (parts === null) return c.send(c.w.response(Cmd.Partitions, corr, Code.StreamDoesNotExist).i32(0).end());
    const w = c.w.response(Cmd.Partitions, corr, Code.Ok).i32(parts.length);
    for (const s of parts) w.string(s);
    c.send(w.end());
  }

  createSuperStream(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const name = r.string();
    const np = r.count(2);
    const partitions: string[] = [];
    for (let i = 0; i < np; i++) partitions.push(r.string());
    const nk = r.count(2);
    const keys: string[] = [];
    for (let i = 0; i < nk; i++) keys.push(r.string());
    const args = r.properties();
    c.respond(Cmd.CreateSuperStream, corr, this.createSuper(name, partitions, keys, args));
  }

  private createSuper(name: string, partitions: string[], keys: string[], args: Map<string, string>): number {
    const c = this.c;
    const vh = c.vhost!;
    if (name === '' || name.startsWith('amq.') || partitions.length === 0 || partitions.length !== keys.length) return Code.PreconditionFailed;
    if (new Set(partitions).size !== partitions.length) return Code.PreconditionFailed;
    if (!c.permitted('configure', name) || !partitions.every((p) => c.permitted('configure', p))) return Code.AccessRefused;
    if (vh.exchanges.has(name) || partitions.some((p) => vh.queues.has(p))) return Code.StreamAlreadyExists;
    if (queueArguments(args) === null) return Code.PreconditionFailed;
    try {
      vh.declareExchange(name, { type: 'direct', passive: false, durable: true, autoDelete: false, internal: false, args: { 'x-super-stream': true } });
      partitions.forEach((p, i) => {
        const code = this.createStream(p, args);
        if (code !== Code.Ok) throw new AmqpError(406, `partition '${p}': code ${code}`);
        vh.bindQueue(p, name, keys[i], { [PARTITION_ORDER]: i }, null);
      });
      return Code.Ok;
    } catch (e) {
      log.warn(`Stream connection ${c.name}: cannot create super stream '${name}': ${(e as Error).message}`);
      for (const p of partitions) if (findStream(c, p) !== null) vh.deleteQueue(p, false, false, c);
      if (vh.exchanges.has(name)) vh.deleteExchange(name, false);
      return e instanceof AmqpError ? Code.PreconditionFailed : Code.InternalError;
    }
  }

  deleteSuperStream(r: FieldReader): void {
    const c = this.c;
    const corr = r.u32();
    const name = r.string();
    const parts = this.partitionsOf(name);
    if (parts === null) return c.respond(Cmd.DeleteSuperStream, corr, Code.StreamDoesNotExist);
    if (!c.permitted('configure', name) || !parts.every((p) => c.permitted('configure', p))) return c.respond(Cmd.DeleteSuperStream, corr, Code.AccessRefused);
    const vh = c.vhost!;
    for (const p of parts) if (findStream(c, p) !== null) vh.deleteQueue(p, false, false, c);
    vh.deleteExchange(name, false);
    c.respond(Cmd.DeleteSuperStream, corr, Code.Ok);
  }
}
