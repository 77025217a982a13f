// A virtual host: the namespace of exchanges, queues and bindings, and the operations of the
// exchange and queue classes with RabbitMQ's checks and error texts. Routing (with
// exchange-to-exchange bindings and alternate exchanges) and dead-lettering live here because
// they cross exchanges and queues.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { Typed, decodeProperties, type FieldTable, type FieldValue } from '../protocol';
import { editProperties } from './props-edit';
import type { LogRecord } from '../store';
import { Exchange, EXCHANGE_TYPES, type Binding, type BindTarget, type ExchangeType, type RoutableMessage, tableKey } from './exchange';
import { EnqueueResult, type Queue, type DeathReason, type QueueHost } from './queue';
import { createQueue } from './queue-factory';
import { STREAM_EQUIV_ARGS, checkStreamDeclare, isStreamDeclare, serverNamedStream } from './stream-args';
import { parseQueueArgs, typeClass, typeName } from './queue-args';
import { type Message, envelopeOf } from './message';
import { deadLetteredCopy, isDeathCycle } from './dead-letter';
import type { SyncPoints } from './sync-points';
import { durableQueueDir, transientQueueDir, vhostDir } from '../store/data-dir';
import { AmqpError, ReplyCode, accessRefused, notFound, preconditionFailed, resourceLocked } from './errors';
import { log } from '../logger';
import type { DurableDefinitions } from './durable-definitions';
import { SHORTSTR_MAX, checkExchangeDeclare, checkName, checkQueueDeclare, fitsShortstr, queueArgsProblem } from './names';
import { counters, deadLettered } from './counters';

export interface VHostContext {
  dataDir: string;
  // True while definitions stored by an earlier run are being recreated: names and arguments
  // that fail today's checks were accepted then and are kept (see names.ts).
  readonly restoring: boolean;
  // Durable definitions: each change is recorded where it happens (definitions.ts) ...
  readonly journal: DurableDefinitions;
  // ... and this re-records everything (one pass over all objects), for anything else.
  definitionsChanged(): void;
  /** a queue could not append (disk full, I/O error): publishers are blocked */
  storeFailed(err: unknown): void;
  // Throws to refuse creating a queue (the vhost's max-queues limit).
  queueCreating?(vh: VHost, name: string): void;
  // Applies matching policies to a new queue or exchange (src/broker/policy-apply.ts).
  applyPolicies?(vhost: VHost, o: Queue | Exchange): void;
}

/** What became of a publish (see VHost.publish). */
export const enum Routed { Unroutable, Rejected, Accepted }

const REPLY_TO_PREFIX = 'amq.rabbitmq.reply-to.';
// Header names as they appear in a field table (length-prefixed shortstr).
const CC_NAME = Buffer.from('\x02CC', 'latin1');
const BCC_NAME = Buffer.from('\x03BCC', 'latin1');

export interface ExchangeDeclare {
  type: string; passive: boolean; durable: boolean; autoDelete: boolean; internal: boolean; args: FieldTable;
}
export interface QueueDeclare {
  passive: boolean; durable: boolean; exclusive: boolean; autoDelete: boolean; args: FieldTable;
  serverName?: string;   // the name for a server-named queue, when access control chose it
}

// Receives messages published to amq.rabbitmq.reply-to.<token> (direct reply-to).
export interface ReplySink {
  deliverReply(exchange: string, routingKey: string, props: Buffer, body: Buffer): void;
}

export const DEFAULT_EXCHANGES: Array<[string, ExchangeType]> = [
  ['amq.direct', 'direct'], ['amq.fanout', 'fanout'], ['amq.topic', 'topic'],
  ['amq.headers', 'headers'], ['amq.match', 'headers'],
];

/** A durable queue whose recovery failed: kept (definition, bindings, files) but not served. */
export interface UnavailableQueue {
  definition: { name: string; vhost: string; durable: boolean; auto_delete: boolean; arguments: Record<string, unknown> };
  bindings: Array<{ source: string; vhost: string; destination: string; destination_type: 'queue' | 'exchange'; routing_key: string; arguments: Record<string, unknown> }>;
  reason: string;
}

export class VHost implements QueueHost {
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  readonly unavailable = new Map<string, UnavailableQueue>();
  readonly replySinks = new Map<string, ReplySink>();
  private readonly defaultExchange: Exchange;
  private readonly routeSets: Array<Set<BindTarget>> = [];
  private routeDepth = 0;
  private transientSeq = 0;

  constructor(readonly name: string, private readonly ctx: VHostContext) {
    this.defaultExchange = new Exchange('', 'direct', true, false, false, {});
    this.exchanges.set('', this.defaultExchange);
    for (const [n, t] of DEFAULT_EXCHANGES) this.exchanges.set(n, new Exchange(n, t, true, false, false, {}));
  }

  get dir(): string {
    return vhostDir(this.ctx.dataDir, this.name);
  }

  private describe(kind: string, name: string): string {
    return `${kind} '${name}' in vhost '${this.name}'`;
  }

  // ---- exchanges ------------------------------------------------------------------------------

  getExchange(name: string): Exchange {
    const x = this.exchanges.get(name);
    if (!x) throw notFound(`no ${this.describe('exchange', name)}`);
    return x;
  }

  declareExchange(name: string, d: ExchangeDeclare): Exchange {
    if (name === '') throw accessRefused(`operation not permitted on the default exchange`);
    const existing = this.exchanges.get(name);
    if (d.passive) {
      if (!existing) throw notFound(`no ${this.describe('exchange', name)}`);
      return existing;
    }
    if (!EXCHANGE_TYPES.has(d.type)) {
      throw new AmqpError(ReplyCode.COMMAND_INVALID, `unknown exchange type '${d.type}'`);
    }
    if (existing) {
      const ineq = (what: string, got: unknown, cur: unknown) =>
        preconditionFailed(`inequivalent arg '${what}' for ${this.describe('exchange', name)}: received '${got}' but current is '${cur}'`);
      if (existing.type !== d.type) throw ineq('type', d.type, existing.type);
      if (existing.durable !== d.durable) throw ineq('durable', d.durable, existing.durable);
      if (existing.autoDelete !== d.autoDelete) throw ineq('auto_delete', d.autoDelete, existing.autoDelete);
      if (existing.internal !== d.internal) throw ineq('internal', d.internal, existing.internal);
      if (tableKey(existing.args) !== tableKey(d.args)) {
        throw preconditionFailed(`inequivalent arg 'arguments' for ${this.describe('exchange', name)}`);
      }
      return existing;
    }
    if (name.startsWith('amq.')) {
      throw accessRefused(`exchange name '${name}' contains reserved prefix 'amq.*'`);
    }
    if (!this.ctx.restoring) checkExchangeDeclare(name, this.name, d.args);
    const x = new Exchange(name, d.type as ExchangeType, d.durable, d.autoDelete, d.internal, d.args);
    this.exchanges.set(name, x);
    this.ctx.applyPolicies?.(this, x);
    this.ctx.journal.exchangeDeclared(this.name, x);
    return x;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    if (name === '') throw accessRefused(`operation not permitted on the default exchange`);
    const x = this.exchanges.get(name);
    if (!x) return;
    if (name.startsWith('amq.') && DEFAULT_EXCHANGES.some(([n]) => n === name)) {
      throw accessRefused(`deletion of system ${this.describe('exchange', name)} not allowed`);
    }
    if (ifUnused && x.bindings.length > 0) {
      throw preconditionFailed(`${this.describe('exchange', name)} in use`);
    }
    this.removeExchange(x);
  }

  private removeExchange(x: Exchange): void {
    this.exchanges.delete(x.name);
    // Bindings where it is the destination go with it.
    this.unbindFromSources(x);
    const gone = x.unbindEverything();
    for (const b of gone) this.unbound(x, b.dest);
    this.ctx.journal.bindingsRemoved(this.name, gone);
    this.ctx.journal.exchangeDeleted(this.name, x);
  }

  // The exchanges with at least one binding to a queue or exchange: deleting one visits only
  // those, not every exchange of the vhost.
  // (One source, the usual case, is kept without a Set around it.)
  private readonly sourcesOf = new Map<BindTarget, Exchange | Set<Exchange>>();

  private bound(x: Exchange, dest: BindTarget): void {
    const s = this.sourcesOf.get(dest);
    if (s === undefined) this.sourcesOf.set(dest, x);
    else if (s instanceof Set) s.add(x);
    else if (s !== x) this.sourcesOf.set(dest, new Set([s, x]));
  }

  private unbound(x: Exchange, dest: BindTarget): void {
    if (x.hasBindingsTo(dest)) return;
    const s = this.sourcesOf.get(dest);
    if (s === undefined) return;
    if (!(s instanceof Set)) { if (s === x) this.sourcesOf.delete(dest); return; }
    s.delete(x);
    if (s.size === 0) this.sourcesOf.delete(dest);
  }

  private unbindFromSources(dest: BindTarget): void {
    const s = this.sourcesOf.get(dest);
    if (s === undefined) return;
    this.sourcesOf.delete(dest);
    for (const src of s instanceof Set ? s : [s]) {
      const gone = src.unbindAll(dest);
      if (gone.length === 0) continue;
      this.ctx.journal.bindingsRemoved(this.name, gone);
      this.maybeAutoDeleteExchange(src);
    }
  }

  private maybeAutoDeleteExchange(x: Exchange): void {
    if (x.autoDelete && x.bindings.length === 0 && this.exchanges.get(x.name) === x) this.removeExchange(x);
  }

  // ---- queues ---------------------------------------------------------------------------------

  private checkAvailable(name: string): void {
    const u = this.unavailable.get(name);
    if (u !== undefined) throw notFound(`${this.describe('queue', name)} is unavailable: its recovery failed (${u.reason}); see the broker log`);
  }

  getQueue(name: string, owner: object | null): Queue {
    const q = this.queues.get(name);
    if (!q) {
      this.checkAvailable(name);
      throw notFound(`no ${this.describe('queue', name)}`);
    }
    this.checkExclusive(q, owner);
    return q;
  }

  private checkExclusive(q: Queue, owner: object | null): void {
    if (q.exclusiveOwner !== null && q.exclusiveOwner !== owner) {
      throw resourceLocked(`cannot obtain exclusive access to locked ${this.describe('queue', q.name)}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`);
    }
  }

  declareQueue(name: string, d: QueueDeclare, owner: object): Queue {
    let serverNamed = false;
    const stream = isStreamDeclare(d.args);
    if (stream && name === '' && !d.passive) throw serverNamedStream();
    if (name === '' && !d.passive) {
      name = d.serverName ?? `amq.gen-${crypto.randomBytes(16).toString('base64url').slice(0, 22)}`;
      serverNamed = true;
    }
    const existing = this.queues.get(name);
    this.checkAvailable(name);
    if (d.passive) {
      if (!existing) throw notFound(`no ${this.describe('queue', name)}`);
      this.checkExclusive(existing, owner);
      existing.touch();
      return existing;
    }
    counters.queuesDeclared++;
    if (existing) {
      this.checkExclusive(existing, owner);
      const ineq = (what: string, got: unknown, cur: unknown) =>
        preconditionFailed(`inequivalent arg '${what}' for ${this.describe('queue', name)}: received '${got}' but current is '${cur}'`);
      if (existing.durable !== d.durable) throw ineq('durable', d.durable, existing.durable);
      if (existing.autoDelete !== d.autoDelete) throw ineq('auto_delete', d.autoDelete, existing.autoDelete);
      if ((existing.exclusiveOwner !== null) !== d.exclusive) throw ineq('exclusive', d.exclusive, existing.exclusiveOwner !== null);
      checkArgsEquivalent(existing.rawArgs, d.args, this.describe('queue', name), existing.args.queueType === 'stream' ? STREAM_EQUIV_ARGS : EQUIV_ARGS);
      existing.touch();
      return existing;
    }
    if (name.startsWith('amq.') && !serverNamed) {
      throw accessRefused(`queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    if (stream) checkStreamDeclare(name, this.name, d);
    const args = parseQueueArgs(name, this.name, d.args);
    checkQueueDeclare(name, this.name, d.args);
    if (args.queueType === 'quorum') {
      if (!d.durable) throw preconditionFailed(`invalid property 'non-durable' for ${this.describe('queue', name)}`);
      if (d.exclusive) throw preconditionFailed(`invalid property 'exclusive-owner' for ${this.describe('queue', name)}`);
    }
    this.ctx.queueCreating?.(this, name);
    const durable = d.durable && !d.exclusive;
    const dir = durable
      ? durableQueueDir(this.ctx.dataDir, this.name, name)
      : transientQueueDir(this.ctx.dataDir, this.name, name, ++this.transientSeq);
    if (!durable) fs.rmSync(dir, { recursive: true, force: true });
    const q = createQueue({
      name, vhost: this.name, durable: d.durable, exclusiveOwner: d.exclusive ? owner : null,
      autoDelete: d.autoDelete, rawArgs: d.args, args, dir, host: this,
    });
    this.queues.set(name, q);
    counters.queuesCreated++;
    this.ctx.applyPolicies?.(this, q);
    // The default exchange binds every queue implicitly by name.
    this.ctx.journal.queueDeclared(this.name, q);
    return q;
  }

  // Recreates a durable queue from stored definitions (its log is recovered on open).
  restoreQueue(name: string, args: FieldTable, autoDelete: boolean): Queue {
    const problem = queueArgsProblem(name, this.name, args);
    if (problem !== null) log.warn(`${problem}: kept from an earlier version; a message dead-lettered with it is dropped`);
    const q = createQueue({
      name, vhost: this.name, durable: true, exclusiveOwner: null, autoDelete, rawArgs: args,
      args: parseQueueArgs(name, this.name, args),
      dir: durableQueueDir(this.ctx.dataDir, this.name, name), host: this,
    });
    this.queues.set(name, q);
    this.ctx.applyPolicies?.(this, q);
    return q;
  }

  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, owner: object | null): number {
    const q = this.queues.get(name);
    if (!q) {
      // deleting an unavailable queue is how an operator gives up on its data
      if (this.unavailable.delete(name)) {
        fs.rmSync(durableQueueDir(this.ctx.dataDir, this.name, name), { recursive: true, force: true });
        this.ctx.definitionsChanged();
      }
      return 0;
    }
    this.checkExclusive(q, owner);
    if (q.args.queueType === 'stream') {
      // as RabbitMQ's stream queues: if-unused and if-empty are ignored, and the count is 0
      this.removeQueue(q);
      return 0;
    }
    if (ifUnused && q.consumerCount > 0) throw preconditionFailed(`${this.describe('queue', name)} in use`);
    if (ifEmpty && q.messageCount > 0) throw preconditionFailed(`${this.describe('queue', name)} is not empty`);
    const n = q.messageCount;
    this.removeQueue(q);
    return n;
  }

  removeQueue(q: Queue): void {
    if (this.queues.get(q.name) !== q) return;
    this.queues.delete(q.name);
    counters.queuesDeleted++;
    this.unbindFromSources(q);
    q.delete();
    this.removedQueueTotals.publish += q.publishCount;
    this.removedQueueTotals.deliver += q.deliverCount;
    this.removedQueueTotals.ack += q.ackCount;
    this.ctx.journal.queueDeleted(this.name, q);
  }

  // For the management API's broker-wide counters: what removed queues had counted.
  readonly removedQueueTotals = { publish: 0, deliver: 0, ack: 0 };

  purgeQueue(name: string, owner: object | null): number {
    return this.getQueue(name, owner).purge();
  }

  queueUnused(q: Queue, why: 'auto-delete' | 'expires'): void {
    log.info(`vhost '${this.name}': deleting queue '${q.name}' (${why})`);
    this.removeQueue(q);
  }

  deleteExclusiveQueues(owner: object): void {
    for (const q of [...this.queues.values()]) if (q.exclusiveOwner === owner) this.removeQueue(q);
  }

  // ---- bindings -------------------------------------------------------------------------------

  bindQueue(queueName: string, exchangeName: string, routingKey: string, args: FieldTable, owner: object | null): void {
    if (exchangeName === '') throw accessRefused(`operation not permitted on the default exchange`);
    const q = this.getQueue(queueName, owner);
    const x = this.getExchange(exchangeName);
    if (!this.ctx.restoring) checkName('routing_key', routingKey);
    const b = x.bind(q, routingKey, args);
    if (b === null) return;
    this.bound(x, q);
    this.ctx.journal.bindingAdded(this.name, b);
  }

  unbindQueue(queueName: string, exchangeName: string, routingKey: string, args: FieldTable, owner: object | null): void {
    if (exchangeName === '') throw accessRefused(`operation not permitted on the default exchange`);
    const q = this.getQueue(queueName, owner);
    const x = this.getExchange(exchangeName);
    const b = x.findBinding(q, routingKey, tableKey(args));
    if (!b) return;
    x.unbind(b);
    this.unbound(x, q);
    this.ctx.journal.bindingsRemoved(this.name, [b]);
    this.maybeAutoDeleteExchange(x);
  }

  bindExchange(destName: string, sourceName: string, routingKey: string, args: FieldTable): void {
    if (destName === '' || sourceName === '') throw accessRefused(`operation not permitted on the default exchange`);
    const dest = this.getExchange(destName);
    const src = this.getExchange(sourceName);
    if (!this.ctx.restoring) checkName('routing_key', routingKey);
    const b = src.bind(dest, routingKey, args);
    if (b === null) return;
    this.bound(src, dest);
    this.ctx.journal.bindingAdded(this.name, b);
  }

  unbindExchange(destName: string, sourceName: string, routingKey: string, args: FieldTable): void {
    if (destName === '' || sourceName === '') throw accessRefused(`operation not permitted on the default exchange`);
    const dest = this.getExchange(destName);
    const src = this.getExchange(sourceName);
    const b = src.findBinding(dest, routingKey, tableKey(args));
    if (!b) return;
    src.unbind(b);
    this.unbound(src, dest);
    this.ctx.journal.bindingsRemoved(this.name, [b]);
    this.maybeAutoDeleteExchange(src);
  }

  allBindings(): Binding[] {
    const out: Binding[] = [];
    for (const x of this.exchanges.values()) for (const b of x.bindings) out.push(b);
    return out;
  }

  // ---- publishing -----------------------------------------------------------------------------

  // Scratch for exchange routing: the queues a publish goes to (reused, one publish at a time).
  private readonly routed = new Set<Queue>();
  /**
   * throttled[0, throttledCount): queues of the last publish whose publishers should pause (flow
   * control; read it before the next publish). A count, not `length = 0`: truncating an array
   * is a runtime call, and under flow control it happened on every publish.
   */
  readonly throttled: (Queue | null)[] = [];
  throttledCount = 0;
  private readonly routable = {
    routingKey: '', props: null as Buffer | null, decoded: undefined as FieldTable | undefined | null,
    headers(): FieldTable | undefined {
      if (this.decoded === null) this.decoded = decodeProperties(this.props as Buffer).headers;
      return this.decoded;
    },
  };

  /**
   * Routes a message and hands it to every destination queue. Durable appends add their log
   * offsets to `sync` (the publisher's confirm waits on them). Direct reply-to and the default
   * exchange take fast paths; CC and BCC headers add routing keys (BCC is removed first).
   * Unroutable: nothing took it; Rejected: a queue refused it (length limit, failed write).
   */
  publish(x: Exchange, routingKey: string, msg: Message, priority: number, sync: SyncPoints | null): Routed {
    const thr = this.throttled;
    if (this.throttledCount !== 0) {
      for (let i = 0; i < this.throttledCount; i++) thr[i] = null;
      this.throttledCount = 0;
    }
    if (x === this.defaultExchange && routingKey.startsWith(REPLY_TO_PREFIX)) {
      const sink = this.replySinks.get(routingKey);
      if (sink === undefined) return Routed.Unroutable;
      sink.deliverReply(x.name, routingKey, msg.props, msg.body);
      return Routed.Accepted;
    }
    const extraKeys = (msg.props[0] & 0x20) !== 0 ? senderSelectedKeys(msg) : null;
    if (x === this.defaultExchange && extraKeys === null) {
      // one queue, no set to build and iterate: the most common publish
      const q = this.queues.get(routingKey);
      if (q === undefined) return Routed.Unroutable;
      const res = this.enqueueOne(q, msg, priority, sync);
      if (q.shouldThrottle()) thr[this.throttledCount++] = q;
      return res === EnqueueResult.Rejected ? Routed.Rejected : Routed.Accepted;
    }
    const out = this.routed;
    out.clear();
    const r = this.routable;
    r.routingKey = routingKey;
    r.props = msg.props;
    r.decoded = null;
    this.route(x, r, out);
    if (extraKeys !== null) for (const k of extraKeys) { r.routingKey = k; this.route(x, r, out); }
    r.props = null;
    if (out.size === 0) return Routed.Unroutable;
    let rejected = false;
    for (const q of out) {
      if (this.enqueueOne(q, msg, priority, sync) === EnqueueResult.Rejected) rejected = true;
      if (q.shouldThrottle()) thr[this.throttledCount++] = q;
    }
    return rejected ? Routed.Rejected : Routed.Accepted;
  }

  private enqueueOne(q: Queue, msg: Message, priority: number, sync: SyncPoints | null): EnqueueResult {
    try {
      return q.enqueue(msg, priority < 0 ? 0 : priority, sync);
    } catch (e) {
      // A failed append (disk full, I/O error): never confirmed; publishers are blocked.
      this.ctx.storeFailed(e);
      return EnqueueResult.Rejected;
    }
  }

  // ---- routing --------------------------------------------------------------------------------

  // Collects destination queues into `out`. Follows exchange-to-exchange bindings and alternate
  // exchanges, visiting each exchange at most once so cycles terminate.
  route(x: Exchange, msg: RoutableMessage, out: Set<Queue>): void {
    if (x === this.defaultExchange) {
      const q = this.queues.get(msg.routingKey);
      if (q) out.add(q);
      return;
    }
    const depth = this.routeDepth++;
    const visited = this.routeSets[depth] ??= new Set();
    try {
      this.routeFrom(x, msg, out, visited);
    } finally {
      visited.clear();
      this.routeDepth--;
    }
  }

  private routeFrom(x: Exchange, msg: RoutableMessage, out: Set<Queue>, visited: Set<BindTarget>): void {
    visited.add(x);
    const before = out.size;
    let sawExchange = false;
    const dests = new Set<BindTarget>();
    x.route(msg, dests);
    for (const d of dests) {
      if (d.kind === 'queue') out.add(d as Queue);
      else {
        sawExchange = true;
        if (!visited.has(d)) this.routeFrom(d as Exchange, msg, out, visited);
      }
    }
    if (out.size === before && !sawExchange && dests.size === 0) {
      const aeName = x.alternateExchange;
      if (aeName !== undefined) {
        const ae = this.exchanges.get(aeName);
        if (ae && !visited.has(ae)) this.routeFrom(ae, msg, out, visited);
      }
    }
  }

  // ---- dead-lettering ---------------------------------------------------------------------------

  // Republishes a message through its queue's dead-letter exchange (dead-letter.ts builds the
  // copy with RabbitMQ's x-death headers); a copy that would run in an automatic cycle is dropped.
  deadLetter(queue: Queue, rec: LogRecord, reason: DeathReason, sync: SyncPoints | null): void {
    const dlxName = queue.args.deadLetterExchange;
    deadLettered[reason][dlxName === null ? 'disabled' : 'at_most_once']++;
    if (dlxName === null) return;
    const dlx = this.exchanges.get(dlxName);
    if (!dlx) {
      log.warn(`vhost '${this.name}': dead-letter exchange '${dlxName}' of queue '${queue.name}' does not exist; message dropped`);
      return;
    }
    // Queues declared before names.ts existed may carry a dead-letter exchange or routing key
    // that no client could receive in basic.deliver: drop such a message here, once, rather
    // than make it a poison message in the dead-letter queue.
    const tooLong = !fitsShortstr(dlxName) ? 'x-dead-letter-exchange'
      : !fitsShortstr(queue.args.deadLetterRoutingKey ?? envelopeOf(rec)[1]) ? 'routing key' : null;
    if (tooLong !== null) {
      log.warn(`vhost '${this.name}': message of queue '${queue.name}' dropped instead of dead-lettered: its ${tooLong} is over ${SHORTSTR_MAX} bytes`);
      return;
    }
    const dl = deadLetteredCopy(queue.name, dlxName, queue.args.deadLetterRoutingKey, rec, reason);
    if (typeof dl === 'string') {
      log.warn(`vhost '${this.name}': cannot dead-letter a message of queue '${queue.name}': ${dl}`);
      return;
    }
    const out = new Set<Queue>();
    const routable = { routingKey: '', headers: () => dl.headers };
    for (const k of dl.keys) {
      routable.routingKey = k;
      this.route(dlx, routable, out);
    }
    for (const target of out) {
      if (reason !== 'rejected' && isDeathCycle(target.name, dl.deaths)) {
        log.warn(`vhost '${this.name}': message dropped: dead-letter cycle from queue '${queue.name}' back to queue '${target.name}' without a rejection`);
        continue;
      }
      this.enqueueOne(target, dl.msg, dl.priority, sync);
    }
  }
}

// RabbitMQ compares a fixed set of queue arguments on redeclare; others may differ.
const EQUIV_ARGS = ['x-message-ttl', 'x-expires', 'x-max-length', 'x-max-length-bytes', 'x-overflow',
  'x-dead-letter-exchange', 'x-dead-letter-routing-key', 'x-max-priority', 'x-queue-type',
  'x-single-active-consumer', 'x-delivery-limit'];

// Same type class (all integer widths are one class) and same value, as RabbitMQ compares them.
function checkArgsEquivalent(cur: FieldTable, got: FieldTable, what: string, keys: readonly string[]): void {
  for (const k of keys) {
    const a = cur[k];
    const b = got[k];
    if (a === undefined && b === undefined) continue;
    // x-queue-type classic is the default, so "absent" and "classic" are equivalent.
    if (k === 'x-queue-type' && String(unwrapTyped(a) ?? 'classic') === String(unwrapTyped(b) ?? 'classic')) continue;
    if (a !== undefined && b !== undefined && typeClass(a) === typeClass(b) && tableKey({ v: a }) === tableKey({ v: b })) continue;
    const fmt = (v: FieldValue | undefined) => (v === undefined ? 'none' : `the value '${showArg(v)}' of type '${typeName(v)}'`);
    const text = a !== undefined && b !== undefined
      ? `received '${showArg(b)}' but current is '${showArg(a)}'`
      : `received ${fmt(b)} but current is ${fmt(a)}`;
    throw preconditionFailed(`inequivalent arg '${k}' for ${what}: ${text}`);
  }
}

function unwrapTyped(v: FieldValue | undefined): FieldValue | undefined {
  return v instanceof Typed ? v.value : v;
}

function showArg(v: FieldValue): string {
  const x = unwrapTyped(v);
  if (Buffer.isBuffer(x)) return x.toString();
  if (x !== null && typeof x === 'object' && !(x instanceof Date)) return tableKey({ v: x }).slice(5, -1);
  return String(x);
}

// Sender-selected distribution, as RabbitMQ does it: routing keys in the CC and BCC headers
// (arrays of strings) route the message too, and BCC is removed before anyone sees it. Returns
// null when there are no extra keys; looks for the header names in the raw bytes first.
function senderSelectedKeys(msg: Message): string[] | null {
  const raw = msg.props;
  if (raw.indexOf(CC_NAME) < 0 && raw.indexOf(BCC_NAME) < 0) return null;
  const h = decodeProperties(raw).headers;
  if (!h) return null;
  const keys: string[] = [];
  for (const name of ['CC', 'BCC']) {
    const v = h[name];
    if (!Array.isArray(v)) continue;
    for (const k of v) {
      if (typeof k === 'string') keys.push(k);
      else if (Buffer.isBuffer(k)) keys.push(k.toString());
    }
  }
  if (Object.prototype.hasOwnProperty.call(h, 'BCC')) msg.props = editProperties(raw, { remove: ['BCC'] });
  return keys.length > 0 ? keys : null;
}
