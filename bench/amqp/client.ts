// A lean AMQP 0-9-1 client for the load generator, on the project's protocol codec.
//
// What makes it cheap per message:
//  - publishing: one message (basic.publish + content header + body frames) is encoded once
//    into a template; a batch is one memcpy of N templates into a fresh buffer, a timestamp
//    patched into each body, and one socket.write. No per-message Promise, object or closure.
//  - consuming: frames are parsed in place in the socket chunk (no subarray per frame); only the
//    delivery tag, the body size and the first body bytes (the send timestamp) are read.
//    Manual acks are one basic.ack(multiple=true) per channel per socket chunk.
//  - everything that is not on the hot path (handshake, declares, consume-ok, errors) goes
//    through the generated codec: encodeMethodFrame / decodeMethod.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  type AnyMethod, type BasicProperties, type FieldTable, type MethodName,
  PROTOCOL_HEADER, decodeMethod, encodeMethodFrame, encodeProperties,
  writeContentHeader, writeBodyFrames, contentHeaderSize, bodyFramesSize, writeBasicAck,
  BASIC_DELIVER, BASIC_ACK, BASIC_NACK, BASIC_RETURN, BASIC_GET_OK,
} from '../../src/protocol';

// ------------------------------------------------------------------------------------------ time

/** Monotonic milliseconds (CLOCK_MONOTONIC: the same clock in every process of this machine). */
export function nowMs(): number {
  const t = process.hrtime();
  return t[0] * 1e3 + t[1] / 1e6;
}

// ------------------------------------------------------------------------------------------- url

export interface AmqpUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  vhost: string;
  // amqps: TLS; the server certificate is verified against ?cacertfile=<PEM file> when given.
  tls?: { cacertfile?: string };
}

export function parseAmqpUrl(url: string): AmqpUrl {
  const u = new URL(url);
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') throw new Error(`unsupported URL scheme '${u.protocol}' in ${url} (amqp: or amqps:)`);
  const path = u.pathname;
  const secure = u.protocol === 'amqps:';
  return {
    ...(secure ? { tls: { cacertfile: u.searchParams.get('cacertfile') ?? undefined } } : {}),
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : secure ? 5671 : 5672,
    user: u.username ? decodeURIComponent(u.username) : 'guest',
    password: u.password ? decodeURIComponent(u.password) : 'guest',
    vhost: path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1)),
  };
}

// Without a CA file the server is not verified: the bench measures throughput, not trust.
function tlsOptions(host: string, port: number, cacertfile: string | undefined): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { host, port, servername: net.isIP(host) ? undefined : host };
  if (cacertfile) o.ca = fs.readFileSync(cacertfile);
  else o.rejectUnauthorized = false;
  return o;
}

// ------------------------------------------------------------------------------------------ errors

export class AmqpClientError extends Error {
  constructor(message: string, readonly code = 0, readonly hard = false) {
    super(message);
  }
}

// -------------------------------------------------------------------------------------- consumer

/**
 * Receives deliveries. Called once per complete message (after its last body frame), with the
 * channel, its delivery tag and the first 8 bytes of the body read as a big-endian double
 * (the producer's send timestamp, see nowMs), or NaN for a body shorter than 8 bytes.
 * `chunkTime` is the arrival time of the socket chunk that completed the message.
 */
export interface DeliverySink {
  onMessage(ch: BenchChannel, deliveryTag: number, sentAt: number, chunkTime: number): void;
}

const TWO_32 = 4294967296;
const CONNECTION_BLOCKED = 0x000a003c;
const CONNECTION_UNBLOCKED = 0x000a003d;
const FRAME_END = 0xce;
const READ_NONE = 0, READ_DELIVER = 1, READ_RETURN = 2, READ_GET = 3;

// ----------------------------------------------------------------------------------- connection

export interface ConnectOptions {
  /** largest frame we accept and send; default: what the server proposes, at most 131072 */
  frameMax?: number;
  /** heartbeat seconds asked for in tune-ok; default 0 (off) */
  heartbeat?: number;
  connectionName?: string;
  timeoutMs?: number;
}

type Rpc = { expect: readonly MethodName[]; resolve: (m: AnyMethod) => void; reject: (e: Error) => void };

export class BenchConnection {
  frameMax = 131072;
  channelMax = 2047;
  serverProperties: FieldTable = {};
  /** connection.blocked from the server (resource alarm); publishers should pause */
  blocked = false;
  closed = false;
  /** set when the server or the socket ended the connection */
  error: Error | null = null;
  onBlockedChange: ((blocked: boolean) => void) | null = null;
  onClose: ((err: Error | null) => void) | null = null;

  private readonly channels: (BenchChannel | undefined)[] = [];
  private nextChannel = 1;
  // incomplete frame bytes carried over between chunks
  private carry: Buffer[] = [];
  private carryLen = 0;
  private carryNeed = 0;
  private chunkTime = -1;
  private readonly ackDirty: BenchChannel[] = [];
  private readonly rpc0: Rpc[] = [];
  private closeWaiter: (() => void) | null = null;

  private constructor(readonly socket: net.Socket, readonly url: AmqpUrl) {}

  static connect(url: string | AmqpUrl, opts: ConnectOptions = {}): Promise<BenchConnection> {
    const u = typeof url === 'string' ? parseAmqpUrl(url) : url;
    return new Promise((resolve, reject) => {
      const socket = u.tls
        ? tls.connect(tlsOptions(u.host, u.port, u.tls.cacertfile))
        : net.connect({ host: u.host, port: u.port, noDelay: true });
      if (u.tls) socket.setNoDelay(true);
      const conn = new BenchConnection(socket, u);
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`connection to ${u.host}:${u.port} timed out`)), opts.timeoutMs ?? 30000);
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      };
      socket.once('error', fail);
      socket.on('data', (chunk: Buffer) => {
        try {
          conn.onData(chunk);
        } catch (e) {
          conn.destroy(e instanceof Error ? e : new Error(String(e)));
        }
      });
      socket.on('close', () => {
        const err = conn.closed ? null : (conn.error ?? new AmqpClientError('connection closed by the server', 0, true));
        conn.teardown(err);
        if (!settled) fail(err ?? new Error('connection closed during the handshake'));
      });
      socket.once('connect', () => {
        socket.write(PROTOCOL_HEADER);
        conn.handshake(opts).then(() => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.off('error', fail);
          socket.on('error', (e) => { conn.error ??= e; });
          resolve(conn);
        }, fail);
      });
    });
  }

  private async handshake(opts: ConnectOptions): Promise<void> {
    const start = await this.expect0(['connection.start']);
    if (start.name !== 'connection.start') throw new Error('expected connection.start');
    this.serverProperties = start.serverProperties;
    const mechs = start.mechanisms.toString().split(' ');
    if (!mechs.includes('PLAIN')) throw new Error(`server offers no PLAIN mechanism (${mechs.join(' ')})`);
    this.send0({
      name: 'connection.start-ok',
      clientProperties: {
        product: 'warren-bench',
        version: '0.1.0',
        platform: `Node.js ${process.version}`,
        connection_name: opts.connectionName ?? 'warren-bench',
        capabilities: {
          publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: true,
          'connection.blocked': true, authentication_failure_close: true, per_consumer_qos: true,
          exchange_exchange_bindings: true,
        },
      },
      mechanism: 'PLAIN',
      response: Buffer.from(`\0${this.url.user}\0${this.url.password}`),
      locale: 'en_US',
    });
    const tune = await this.expect0(['connection.tune']);
    if (tune.name !== 'connection.tune') throw new Error('expected connection.tune');
    const want = opts.frameMax ?? 131072;
    this.frameMax = tune.frameMax === 0 ? want : Math.min(tune.frameMax, want);
    this.channelMax = tune.channelMax === 0 ? 2047 : tune.channelMax;
    this.send0({ name: 'connection.tune-ok', channelMax: this.channelMax, frameMax: this.frameMax, heartbeat: opts.heartbeat ?? 0 });
    this.send0({ name: 'connection.open', virtualHost: this.url.vhost });
    await this.expect0(['connection.open-ok']);
  }

  private send0(m: AnyMethod): void {
    this.socket.write(encodeMethodFrame(0, m));
  }

  private expect0(names: readonly MethodName[]): Promise<AnyMethod> {
    return new Promise((resolve, reject) => this.rpc0.push({ expect: names, resolve, reject }));
  }

  /** Open a channel (one round trip). */
  async openChannel(): Promise<BenchChannel> {
    if (this.closed) throw this.error ?? new Error('connection is closed');
    let id = this.nextChannel;
    while (this.channels[id] !== undefined) id = id >= this.channelMax ? 1 : id + 1;
    this.nextChannel = id >= this.channelMax ? 1 : id + 1;
    const ch = new BenchChannel(this, id);
    this.channels[id] = ch;
    await ch.rpc({ name: 'channel.open' }, ['channel.open-ok']);
    return ch;
  }

  /** @internal */
  forgetChannel(ch: BenchChannel): void {
    if (this.channels[ch.id] === ch) this.channels[ch.id] = undefined;
  }

  /** @internal a channel has deliveries to ack at the end of this chunk */
  markAckDirty(ch: BenchChannel): void {
    this.ackDirty.push(ch);
  }

  write(buf: Buffer): boolean {
    return this.socket.write(buf);
  }

  /** Arrival time of the chunk being parsed (computed once per chunk, on first use). */
  currentChunkTime(): number {
    if (this.chunkTime < 0) this.chunkTime = nowMs();
    return this.chunkTime;
  }

  // ---- input --------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.carryLen > 0) {
      this.carry.push(chunk);
      this.carryLen += chunk.length;
      if (this.carryLen < this.carryNeed) return;
      buf = Buffer.concat(this.carry, this.carryLen);
      this.carry = [];
      this.carryLen = 0;
    }
    this.chunkTime = -1;
    const len = buf.length;
    let pos = 0;
    while (pos + 7 <= len) {
      const size = buf.readUInt32BE(pos + 3);
      const end = pos + 7 + size;
      if (end >= len) break;
      if (buf[end] !== FRAME_END) throw new AmqpClientError(`bad frame end 0x${buf[end].toString(16)} from the server`, 501, true);
      const type = buf[pos];
      const chId = (buf[pos + 1] << 8) | buf[pos + 2];
      const p = pos + 7;
      pos = end + 1;
      if (type === 3) {
        const ch = this.channels[chId];
        if (ch) ch.onBody(buf, p, size);
      } else if (type === 2) {
        const ch = this.channels[chId];
        if (ch) ch.onHeader(buf, p);
      } else if (type === 1) {
        this.onMethodFrame(chId, buf, p, size);
      } else if (type !== 8) {
        throw new AmqpClientError(`unknown frame type ${type} from the server`, 501, true);
      }
    }
    if (pos < len) {
      const rest = buf.subarray(pos);
      this.carry.push(rest);
      this.carryLen = rest.length;
      this.carryNeed = rest.length >= 7 ? rest.readUInt32BE(3) + 8 : 7;
    }
    const dirty = this.ackDirty;
    if (dirty.length > 0) {
      if (dirty.length === 1) {
        const b = Buffer.allocUnsafe(21);
        dirty[0].fillAck(b, 0);
        this.socket.write(b);
      } else {
        const b = Buffer.allocUnsafe(21 * dirty.length);
        let o = 0;
        for (let i = 0; i < dirty.length; i++) o = dirty[i].fillAck(b, o);
        this.socket.write(b.subarray(0, o));
      }
      dirty.length = 0;
    }
  }

  private onMethodFrame(chId: number, buf: Buffer, p: number, size: number): void {
    const key = buf.readUInt32BE(p);
    if (chId !== 0) {
      const ch = this.channels[chId];
      if (!ch) return;
      if (key === BASIC_DELIVER) {
        const tagLen = buf[p + 4];
        const o = p + 5 + tagLen;
        ch.onDeliver(buf.readUInt32BE(o) * TWO_32 + buf.readUInt32BE(o + 4));
        return;
      }
      if (key === BASIC_ACK || key === BASIC_NACK) {
        const tag = buf.readUInt32BE(p + 4) * TWO_32 + buf.readUInt32BE(p + 8);
        ch.onConfirm(tag, (buf[p + 12] & 1) === 1, key === BASIC_ACK);
        return;
      }
      const m = decodeMethod(buf.subarray(p, p + size));
      ch.onMethod(m, key);
      return;
    }
    // connection.blocked (10.60) / unblocked (10.61): RabbitMQ extensions the codec does not generate
    if (key === CONNECTION_BLOCKED) { this.setBlocked(true); return; }
    if (key === CONNECTION_UNBLOCKED) { this.setBlocked(false); return; }
    const m = decodeMethod(buf.subarray(p, p + size));
    switch (m.name) {
      case 'connection.close': {
        this.socket.write(encodeMethodFrame(0, { name: 'connection.close-ok' }));
        const err = new AmqpClientError(`connection closed by the server: ${m.replyCode} ${m.replyText}`, m.replyCode, true);
        this.error = err;
        this.socket.end();
        this.teardown(err);
        return;
      }
      case 'connection.close-ok':
        this.closed = true;
        this.socket.end();
        this.closeWaiter?.();
        return;
      default: {
        const r = this.rpc0[0];
        if (r && r.expect.includes(m.name)) {
          this.rpc0.shift();
          r.resolve(m);
          return;
        }
        throw new AmqpClientError(`unexpected ${m.name} on channel 0`, 503, true);
      }
    }
  }

  private setBlocked(b: boolean): void {
    this.blocked = b;
    this.onBlockedChange?.(b);
  }

  // ---- closing ------------------------------------------------------------------------------

  /** Close handshake (connection.close / close-ok), then the socket. */
  close(timeoutMs = 5000): Promise<void> {
    if (this.closed || this.socket.destroyed) { this.closed = true; this.socket.destroy(); return Promise.resolve(); }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.socket.destroy(); resolve(); }, timeoutMs);
      timer.unref();
      this.closeWaiter = () => { clearTimeout(timer); resolve(); };
      this.socket.once('close', () => { clearTimeout(timer); resolve(); });
      this.socket.write(encodeMethodFrame(0, { name: 'connection.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }));
    }).then(() => { this.closed = true; });
  }

  destroy(err?: Error): void {
    if (err) this.error ??= err;
    this.socket.destroy();
    this.teardown(err ?? null);
  }

  private torn = false;
  private teardown(err: Error | null): void {
    if (this.torn) return;
    this.torn = true;
    const e = err ?? new Error('connection closed');
    for (const r of this.rpc0.splice(0)) r.reject(e);
    for (const ch of this.channels) if (ch) ch.teardown(e);
    this.channels.length = 0;
    this.onClose?.(err);
  }
}

// --------------------------------------------------------------------------------------- channel

export interface ConsumeOptions {
  noAck?: boolean;
  consumerTag?: string;
  exclusive?: boolean;
  arguments?: FieldTable;
}

export class BenchChannel {
  closed = false;
  error: Error | null = null;
  private readonly rpcs: Rpc[] = [];

  // ---- consuming
  sink: DeliverySink | null = null;
  /** complete messages received (deliveries only) */
  received = 0;
  /** basic.return messages received */
  returned = 0;
  private reading = READ_NONE;
  private bodyRemaining = 0;
  private bodyFirst = false;
  private sentAt = NaN;
  private deliveryTag = 0;
  private lastTag = 0;
  private ackedTag = 0;
  private ackDirty = false;
  /** manual-ack consumers on this channel ack every message, batched per socket chunk */
  manualAck = false;
  onCancel: ((consumerTag: string) => void) | null = null;

  // ---- publishing
  /** messages published on this channel (publish sequence numbers handed out) */
  published = 0;
  confirmMode = false;
  /** publishes acked / nacked by the broker */
  acked = 0;
  nacked = 0;
  private confirmedUpTo = 0;
  private readonly confirmedAbove = new Set<number>();
  /** called after each confirm frame */
  onConfirms: (() => void) | null = null;
  // per-batch send times for confirm latency: parallel arrays used as a ring
  private batchSeq: number[] = [];
  private batchTime: number[] = [];
  private batchHead = 0;
  /** confirm latency sink: (ms, messages) */
  onConfirmLatency: ((ms: number, n: number) => void) | null = null;

  constructor(readonly conn: BenchConnection, readonly id: number) {}

  // ---- rpc ----------------------------------------------------------------------------------

  rpc(m: AnyMethod, expect: readonly MethodName[]): Promise<AnyMethod> {
    if (this.closed) return Promise.reject(this.error ?? new Error(`channel ${this.id} is closed`));
    return new Promise((resolve, reject) => {
      this.rpcs.push({ expect, resolve, reject });
      this.conn.write(encodeMethodFrame(this.id, m));
    });
  }

  send(m: AnyMethod): void {
    this.conn.write(encodeMethodFrame(this.id, m));
  }

  async declareQueue(queue: string, opts: { durable?: boolean; exclusive?: boolean; autoDelete?: boolean; passive?: boolean; arguments?: FieldTable } = {}): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    const r = await this.rpc({
      name: 'queue.declare', queue, passive: opts.passive ?? false, durable: opts.durable ?? false, exclusive: opts.exclusive ?? false,
      autoDelete: opts.autoDelete ?? false, noWait: false, arguments: opts.arguments ?? {},
    }, ['queue.declare-ok']);
    if (r.name !== 'queue.declare-ok') throw new Error('expected queue.declare-ok');
    return { queue: r.queue, messageCount: r.messageCount, consumerCount: r.consumerCount };
  }

  async deleteQueue(queue: string): Promise<number> {
    const r = await this.rpc({ name: 'queue.delete', queue, ifUnused: false, ifEmpty: false, noWait: false }, ['queue.delete-ok']);
    return r.name === 'queue.delete-ok' ? r.messageCount : 0;
  }

  async purgeQueue(queue: string): Promise<number> {
    const r = await this.rpc({ name: 'queue.purge', queue, noWait: false }, ['queue.purge-ok']);
    return r.name === 'queue.purge-ok' ? r.messageCount : 0;
  }

  async declareExchange(exchange: string, type: string, opts: { durable?: boolean; autoDelete?: boolean } = {}): Promise<void> {
    await this.rpc({
      name: 'exchange.declare', exchange, type, passive: false, durable: opts.durable ?? false, autoDelete: opts.autoDelete ?? false,
      internal: false, noWait: false, arguments: {},
    }, ['exchange.declare-ok']);
  }

  async deleteExchange(exchange: string): Promise<void> {
    await this.rpc({ name: 'exchange.delete', exchange, ifUnused: false, noWait: false }, ['exchange.delete-ok']);
  }

  async bindQueue(queue: string, exchange: string, routingKey: string, args: FieldTable = {}): Promise<void> {
    await this.rpc({ name: 'queue.bind', queue, exchange, routingKey, noWait: false, arguments: args }, ['queue.bind-ok']);
  }

  async qos(prefetchCount: number, global = false): Promise<void> {
    await this.rpc({ name: 'basic.qos', prefetchSize: 0, prefetchCount, global }, ['basic.qos-ok']);
  }

  async confirmSelect(): Promise<void> {
    await this.rpc({ name: 'confirm.select', nowait: false }, ['confirm.select-ok']);
    this.confirmMode = true;
  }

  /** Start a consumer; deliveries go to this.sink. Manual-ack consumers are acked automatically. */
  async consume(queue: string, opts: ConsumeOptions = {}): Promise<string> {
    // set before the request: deliveries can arrive in the same chunk as consume-ok
    if (!opts.noAck) this.manualAck = true;
    const r = await this.rpc({
      name: 'basic.consume', queue, consumerTag: opts.consumerTag ?? '', noLocal: false, noAck: opts.noAck ?? false,
      exclusive: opts.exclusive ?? false, noWait: false, arguments: opts.arguments ?? {},
    }, ['basic.consume-ok']);
    if (r.name !== 'basic.consume-ok') throw new Error('expected basic.consume-ok');
    return r.consumerTag;
  }

  async cancel(consumerTag: string): Promise<void> {
    await this.rpc({ name: 'basic.cancel', consumerTag, noWait: false }, ['basic.cancel-ok']);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushAck();
    await this.rpc({ name: 'channel.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }, ['channel.close-ok']);
    this.closed = true;
    this.conn.forgetChannel(this);
  }

  // ---- publishing -----------------------------------------------------------------------------

  /**
   * Write n messages of a template in one socket write. With stamp, the current time goes into
   * the first 8 body bytes of each (see nowMs). Returns socket.write's result.
   */
  publishBatch(t: PublishTemplate, n: number, stamp: boolean): boolean {
    const buf = t.batch(n, stamp ? nowMs() : NaN);
    const now = this.confirmMode && this.onConfirmLatency ? nowMs() : 0;
    this.published += n;
    if (now !== 0) {
      this.batchSeq.push(this.published);
      this.batchTime.push(now);
    }
    return this.conn.write(buf);
  }

  /** Publishes sent but neither acked nor nacked yet (confirm mode). */
  get unconfirmed(): number {
    return this.published - this.acked - this.nacked;
  }

  /** @internal */
  onConfirm(tag: number, multiple: boolean, ack: boolean): void {
    let n = 0;
    if (multiple) {
      if (tag > this.confirmedUpTo) {
        n = tag - this.confirmedUpTo;
        if (this.confirmedAbove.size > 0) {
          for (const t of this.confirmedAbove) if (t <= tag) { this.confirmedAbove.delete(t); n--; }
        }
        this.confirmedUpTo = tag;
      }
    } else if (tag > this.confirmedUpTo && !this.confirmedAbove.has(tag)) {
      n = 1;
      if (tag === this.confirmedUpTo + 1) this.confirmedUpTo = tag;
      else this.confirmedAbove.add(tag);
    }
    while (this.confirmedAbove.size > 0 && this.confirmedAbove.delete(this.confirmedUpTo + 1)) this.confirmedUpTo++;
    if (ack) this.acked += n;
    else this.nacked += n;
    if (this.onConfirmLatency && this.batchHead < this.batchSeq.length) {
      const upTo = this.confirmedUpTo;
      let now = 0;
      let prev = this.batchHead > 0 ? this.batchSeq[this.batchHead - 1] : 0;
      while (this.batchHead < this.batchSeq.length && this.batchSeq[this.batchHead] <= upTo) {
        if (now === 0) now = this.conn.currentChunkTime();
        const s = this.batchSeq[this.batchHead];
        this.onConfirmLatency(now - this.batchTime[this.batchHead], s - prev);
        prev = s;
        this.batchHead++;
      }
      if (this.batchHead > 4096 && this.batchHead * 2 > this.batchSeq.length) {
        this.batchSeq = this.batchSeq.slice(this.batchHead);
        this.batchTime = this.batchTime.slice(this.batchHead);
        this.batchHead = 0;
      }
    }
    this.onConfirms?.();
  }

  // ---- consuming ------------------------------------------------------------------------------

  /** @internal */
  onDeliver(tag: number): void {
    this.reading = READ_DELIVER;
    this.deliveryTag = tag;
  }

  /** @internal */
  onHeader(buf: Buffer, p: number): void {
    const bodySize = buf.readUInt32BE(p + 4) * TWO_32 + buf.readUInt32BE(p + 8);
    this.bodyRemaining = bodySize;
    this.bodyFirst = true;
    this.sentAt = NaN;
    if (bodySize === 0) this.complete();
  }

  /** @internal */
  onBody(buf: Buffer, p: number, size: number): void {
    if (this.bodyFirst) {
      this.bodyFirst = false;
      if (size >= 8) this.sentAt = buf.readDoubleBE(p);
    }
    this.bodyRemaining -= size;
    if (this.bodyRemaining <= 0) this.complete();
  }

  private complete(): void {
    const kind = this.reading;
    this.reading = READ_NONE;
    if (kind === READ_DELIVER) {
      this.received++;
      const tag = this.deliveryTag;
      if (this.manualAck) {
        this.lastTag = tag;
        if (!this.ackDirty) { this.ackDirty = true; this.conn.markAckDirty(this); }
      }
      if (this.sink) this.sink.onMessage(this, tag, this.sentAt, this.conn.currentChunkTime());
    } else if (kind === READ_RETURN) {
      this.returned++;
    }
  }

  /** @internal writes basic.ack(lastTag, multiple) at b[o]; returns the new offset */
  fillAck(b: Buffer, o: number): number {
    this.ackDirty = false;
    if (this.lastTag <= this.ackedTag || this.closed) return o;
    const multiple = this.lastTag - this.ackedTag > 1;
    this.ackedTag = this.lastTag;
    return writeBasicAck(b, o, this.id, this.lastTag, multiple);
  }

  private flushAck(): void {
    if (this.lastTag > this.ackedTag) {
      const b = Buffer.allocUnsafe(21);
      const o = this.fillAck(b, 0);
      if (o > 0) this.conn.write(b.subarray(0, o));
    }
  }

  /** @internal */
  onMethod(m: AnyMethod, key: number): void {
    if (key === BASIC_RETURN) { this.reading = READ_RETURN; return; }
    if (key === BASIC_GET_OK) { this.reading = READ_GET; return; }
    if (m.name === 'channel.close') {
      this.conn.write(encodeMethodFrame(this.id, { name: 'channel.close-ok' }));
      const err = new AmqpClientError(`channel ${this.id} closed by the server: ${m.replyCode} ${m.replyText}`, m.replyCode);
      this.teardown(err);
      this.conn.forgetChannel(this);
      return;
    }
    if (m.name === 'basic.cancel') {
      // server-sent cancel (queue deleted)
      this.onCancel?.(m.consumerTag);
      return;
    }
    if (m.name === 'channel.flow') {
      this.send({ name: 'channel.flow-ok', active: m.active });
      return;
    }
    const r = this.rpcs[0];
    if (r && r.expect.includes(m.name)) {
      this.rpcs.shift();
      r.resolve(m);
      return;
    }
    // anything else (e.g. cancel-ok of a no-wait cancel) is ignored
  }

  /** @internal */
  teardown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.error = err;
    for (const r of this.rpcs.splice(0)) r.reject(err);
  }
}

// ------------------------------------------------------------------------------------ publishing

export interface TemplateOptions {
  channel: number;
  exchange: string;
  routingKey: string;
  bodySize: number;
  properties?: BasicProperties;
  frameMax: number;
  mandatory?: boolean;
  /** how many messages one batch may hold at most */
  maxBatch: number;
}

/** One message pre-encoded, repeated maxBatch times, ready to be copied out in batches. */
export class PublishTemplate {
  readonly messageBytes: number;
  /** offset of the body's first byte inside one message */
  readonly bodyOffset: number;
  readonly maxBatch: number;
  private readonly block: Buffer;

  constructor(o: TemplateOptions) {
    const publish = encodeMethodFrame(o.channel, {
      name: 'basic.publish', exchange: o.exchange, routingKey: o.routingKey, mandatory: o.mandatory ?? false, immediate: false,
    });
    const props = encodeProperties(o.properties ?? {});
    const body = Buffer.alloc(o.bodySize, 0x2e); // '.'
    const one = Buffer.allocUnsafe(publish.length + contentHeaderSize(props) + bodyFramesSize(body.length, o.frameMax));
    publish.copy(one, 0);
    let pos = writeContentHeader(one, publish.length, o.channel, 60, body.length, props);
    this.bodyOffset = pos + 7; // first body frame header
    pos = writeBodyFrames(one, pos, o.channel, body, o.frameMax);
    if (pos !== one.length) throw new Error(`template size mismatch: ${pos} != ${one.length}`);
    this.messageBytes = one.length;
    this.maxBatch = Math.max(1, o.maxBatch);
    this.block = Buffer.allocUnsafe(one.length * this.maxBatch);
    for (let i = 0; i < this.maxBatch; i++) one.copy(this.block, i * one.length);
    this.stampable = o.bodySize >= 8;
  }

  private readonly stampable: boolean;

  /** A fresh buffer with n (<= maxBatch) messages; ts (when not NaN) in each body's first 8 bytes. */
  batch(n: number, ts: number): Buffer {
    const len = n * this.messageBytes;
    const out = Buffer.allocUnsafe(len);
    this.block.copy(out, 0, 0, len);
    if (this.stampable && ts === ts) {
      const step = this.messageBytes;
      for (let o = this.bodyOffset; o < len; o += step) out.writeDoubleBE(ts, o);
    }
    return out;
  }
}

/** Messages per batch so one write is about `targetBytes` long. */
export function batchSizeFor(messageBytes: number, targetBytes = 64 * 1024): number {
  return Math.max(1, Math.floor(targetBytes / messageBytes));
}
