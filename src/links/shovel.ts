// One dynamic shovel: consumes from a source queue (or a queue bound to a source exchange) over
// one AMQP connection and republishes every message over another, then settles it on the
// source as the ack mode says:
//   on-confirm  the source message is acked when the destination confirms it (nothing is lost;
//               a message can arrive twice after a failure, as in RabbitMQ)
//   on-publish  acked as soon as it is written to the destination
//   no-ack      consumed with auto-ack
// Any failure of either side ends the run: both connections are closed (the source requeues
// what it had delivered and we had not acked) and the shovel starts again after a backoff.
import { ClientConnection, type ClientChannel, type ClientMessage } from '../client';
import { type BasicProperties, type FieldTable, type FieldValue, decodeProperties, encodeProperties } from '../protocol';
import { Backoff } from './backoff';
import { connectAny, type LinkEnv } from './connect';
import type { ShovelConfig } from './shovel-config';
import { type LinkTarget, resolveLinkUri } from './uri';

export type ShovelState = 'starting' | 'running' | 'blocked' | 'terminated';

// A run that must end: rejects with why, or resolves true when src-delete-after is reached.
class RunEnd extends Error {}

export class Shovel {
  state: ShovelState = 'starting';
  reason: string | null = null;
  since = new Date();
  /** messages published to the destination and settled on the source, over every run */
  forwarded = 0;
  /** published, waiting for the destination's confirm */
  pending = 0;
  srcUri: string;
  destUri: string;

  private stopped = false;
  private wake: (() => void) | null = null;
  private conns: ClientConnection[] = [];
  /** src-delete-after as a count of messages to forward in all (null: never) */
  private target: number | null;
  private endRun: ((done: boolean, err?: Error) => void) | null = null;
  private readonly backoff: Backoff;

  constructor(readonly vhost: string, readonly name: string, readonly config: ShovelConfig, private readonly env: LinkEnv,
    private readonly onComplete: () => void) {
    this.target = typeof config.deleteAfter === 'number' ? config.deleteAfter : null;
    this.srcUri = resolveLinkUri(config.srcUris[0], env.selfPort, vhost).display;
    this.destUri = resolveLinkUri(config.destUris[0], env.selfPort, vhost).display;
    this.backoff = new Backoff(config.reconnectDelay * 1000, `shovel '${name}' in vhost '${vhost}'`);
  }

  start(): void {
    void this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.endRun?.(false, new RunEnd('stopped'));
    await this.closeAll();
  }

  private setState(s: ShovelState, reason: string | null = null): void {
    if (this.state !== s || this.reason !== reason) this.since = new Date();
    this.state = s;
    this.reason = reason;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.setState('starting');
      const began = Date.now();
      const forwardedBefore = this.forwarded;
      let reason: string;
      try {
        if (await this.runOnce()) {
          await this.closeAll();
          this.setState('terminated', 'completed: src-delete-after reached');
          this.stopped = true;
          this.onComplete();
          return;
        }
        reason = 'stopped';
      } catch (e) {
        reason = (e as Error).message;
      }
      await this.closeAll();
      this.pending = 0; // the source requeued what was unconfirmed
      if (this.stopped) return;
      this.setState('terminated', reason);
      if (this.config.reconnectDelay === 0) return; // RabbitMQ: a shovel with reconnect-delay 0 is not restarted
      // a run that moved messages or lasted is a success: the next failure waits the base delay
      // again (reaching "running" is not: a missing destination exchange fails on the first publish)
      if (this.forwarded > forwardedBefore || Date.now() - began > 30_000) this.backoff.succeeded();
      const ms = this.backoff.failed(reason);
      await new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        this.wake = () => { clearTimeout(t); r(); };
      });
      this.wake = null;
    }
  }

  private async closeAll(): Promise<void> {
    const conns = this.conns;
    this.conns = [];
    await Promise.all(conns.map((c) => c.close(2000).catch(() => c.destroy())));
  }

  private async connect(uris: string[], role: 'source' | 'destination'): Promise<{ conn: ClientConnection; target: LinkTarget }> {
    const r = await connectAny(uris.map((u) => resolveLinkUri(u, this.env.selfPort, this.vhost)), `Shovel ${this.name}`, role);
    this.conns.push(r.conn);
    if (this.stopped) throw new RunEnd('stopped');
    return r;
  }

  // One run: connect both sides, forward until something fails (rejects) or the delete-after
  // count is reached (resolves true).
  private runOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let over = false;
      this.endRun = (done, err) => {
        if (over) return;
        over = true;
        this.endRun = null;
        if (err) reject(err); else resolve(done);
      };
      this.setup().catch((e: Error) => this.endRun?.(false, e));
    });
  }

  private fail(what: string) {
    return (err: Error | null) => this.endRun?.(false, new RunEnd(`${what}: ${err?.message ?? 'closed'}`));
  }

  private async setup(): Promise<void> {
    const cfg = this.config;
    const src = await this.connect(cfg.srcUris, 'source');
    src.conn.onClose = this.fail('source connection closed');
    const dest = await this.connect(cfg.destUris, 'destination');
    dest.conn.onClose = this.fail('destination connection closed');
    this.srcUri = src.target.display;
    this.destUri = dest.target.display;
    dest.conn.onBlockedChange = (b) => { if (this.state === 'running' || this.state === 'blocked') this.setState(b ? 'blocked' : 'running'); };

    const dch = await dest.conn.openChannel();
    if (cfg.destQueue !== undefined && cfg.destQueue !== '') await ensureQueue(dest.conn, cfg.destQueue, cfg.destQueueArgs);
    if (cfg.ackMode === 'on-confirm') await dch.confirmSelect();
    dch.onClosed = this.fail('destination channel closed');

    const sch = await src.conn.openChannel();
    let queue: string;
    if (cfg.srcQueue !== undefined) {
      queue = cfg.srcQueue;
      const count = await ensureQueue(src.conn, queue, cfg.srcQueueArgs);
      // queue-length: the messages in the queue when the shovel first starts
      if (this.target === null && cfg.deleteAfter === 'queue-length') this.target = count;
    } else {
      queue = (await sch.declareQueue('', { exclusive: true, autoDelete: true })).queue;
      await sch.bindQueue(queue, cfg.srcExchange ?? '', cfg.srcExchangeKey);
    }
    sch.onClosed = this.fail('source channel closed');
    if (this.target !== null && this.forwarded >= this.target) { this.endRun?.(true); return; }
    this.forward(sch, dch, queue);
    if (cfg.prefetch > 0 && cfg.ackMode !== 'no-ack') await sch.qos(cfg.prefetch);
    const tag = await sch.consume(queue, { noAck: cfg.ackMode === 'no-ack', arguments: cfg.srcConsumerArgs });
    sch.onCancel = () => this.endRun?.(false, new RunEnd(`the source queue '${queue}' was deleted`));
    this.consumerTag = tag;
    this.setState(dest.conn.blocked ? 'blocked' : 'running');
  }

  private consumerTag = '';

  private forward(sch: ClientChannel, dch: ClientChannel, _queue: string): void {
    const cfg = this.config;
    // (publish sequence number, source delivery tag), both increasing: a FIFO
    const seqs: number[] = [];
    const tags: number[] = [];
    let head = 0;
    const startForwarded = this.forwarded;
    let received = 0;
    this.pending = 0;
    const limit = this.target === null ? Infinity : this.target - startForwarded;
    const settled = (n: number) => {
      this.forwarded += n;
      if (this.target !== null && this.forwarded >= this.target) this.endRun?.(true);
    };
    const rewrite = this.rewriter(cfg);

    sch.messageSink = (m: ClientMessage) => {
      if (received >= limit) {
        // beyond src-delete-after (prefetched before the cancel took effect): back to the queue
        if (cfg.ackMode !== 'no-ack') sch.nack(m.deliveryTag, false, true);
        return;
      }
      received++;
      if (received === limit && this.consumerTag !== '') sch.send({ name: 'basic.cancel', consumerTag: this.consumerTag, noWait: true });
      const exchange = cfg.destExchange ?? (cfg.destQueue !== undefined ? '' : m.exchange);
      const routingKey = cfg.destExchange !== undefined ? (cfg.destExchangeKey ?? m.routingKey) : (cfg.destQueue ?? m.routingKey);
      const seq = dch.publishRaw(exchange, routingKey, rewrite(m.rawProperties), m.body);
      if (cfg.ackMode === 'on-confirm') {
        seqs.push(seq);
        tags.push(m.deliveryTag);
        this.pending++;
      } else {
        if (cfg.ackMode === 'on-publish') sch.ack(m.deliveryTag);
        settled(1);
      }
    };

    dch.onConfirmTag = (tag, multiple, ack) => {
      let n = 0;
      let last = -1;
      if (multiple) {
        while (head < seqs.length && seqs[head] <= tag) { last = tags[head]; head++; n++; }
        if (n > 0) {
          if (ack) sch.ack(last, true); else sch.nack(last, true, true);
        }
      } else {
        let i = head;
        while (i < seqs.length && seqs[i] < tag) i++;
        if (i < seqs.length && seqs[i] === tag) {
          last = tags[i];
          if (i === head) head++;
          else { seqs.splice(i, 1); tags.splice(i, 1); }
          n = 1;
          if (ack) sch.ack(last); else sch.nack(last, false, true);
        }
      }
      if (head > 4096 && head * 2 > seqs.length) { seqs.splice(0, head); tags.splice(0, head); head = 0; }
      this.pending -= n;
      // a nacked message goes back to the source queue: it is not forwarded yet
      if (ack) settled(n);
    };
  }

  // The destination's properties: as received (the raw bytes, untouched) unless the shovel
  // sets properties or adds its headers.
  private rewriter(cfg: ShovelConfig): (raw: Buffer) => Buffer {
    const overrides = Object.keys(cfg.publishProperties).length > 0;
    if (!overrides && !cfg.addForwardHeaders && !cfg.addTimestampHeader) return (raw) => raw;
    return (raw) => {
      const p: BasicProperties = { ...decodeProperties(raw), ...cfg.publishProperties };
      if (cfg.addForwardHeaders || cfg.addTimestampHeader) {
        const headers: FieldTable = { ...(p.headers ?? {}) };
        if (cfg.addForwardHeaders) {
          const prior = headers['x-shovelled'];
          headers['x-shovelled'] = [this.forwardEntry(), ...(Array.isArray(prior) ? prior : [])] as FieldValue[];
        }
        if (cfg.addTimestampHeader) headers['x-shovelled-timestamp'] = new Date();
        p.headers = headers;
      }
      return encodeProperties(p);
    };
  }

  private forwardEntry(): FieldTable {
    const c = this.config;
    const e: FieldTable = {
      'shovelled-by': this.env.node, 'shovel-type': 'dynamic', 'shovel-name': this.name, 'shovel-vhost': this.vhost,
      'src-uri': this.srcUri,
    };
    if (c.srcQueue !== undefined) e['src-queue'] = c.srcQueue;
    else { e['src-exchange'] = c.srcExchange ?? ''; e['src-exchange-key'] = c.srcExchangeKey; }
    e['dest-uri'] = this.destUri;
    if (c.destQueue !== undefined) e['dest-queue'] = c.destQueue;
    if (c.destExchange !== undefined) e['dest-exchange'] = c.destExchange;
    if (c.destExchangeKey !== undefined) e['dest-exchange-key'] = c.destExchangeKey;
    return e;
  }

  /** Messages still to forward before src-delete-after is reached (null: never). */
  get remaining(): number | null {
    return this.target === null ? null : Math.max(0, this.target - this.forwarded);
  }
}

// The queue's message count; declared (durable, with `args`) when it does not exist, as
// RabbitMQ's shovel does. Passive first, on a throwaway channel: a declare with other arguments
// than an existing queue's would be refused.
export async function ensureQueue(conn: ClientConnection, queue: string, args: FieldTable): Promise<number> {
  const probe = await conn.openChannel();
  try {
    const r = await probe.declareQueue(queue, { passive: true });
    await probe.close();
    return r.messageCount;
  } catch (e) {
    if (!/\b404\b/.test((e as Error).message)) throw e;
  }
  const ch = await conn.openChannel();
  const r = await ch.declareQueue(queue, { durable: true, arguments: args });
  await ch.close();
  return r.messageCount;
}
