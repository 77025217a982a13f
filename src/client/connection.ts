// A lean AMQP 0-9-1 client on the project's protocol codec: the load generator (bench/), log
// replay, and later shovels and federation links. The connection: handshake, frames, heartbeats.
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
  type AnyMethod, type FieldTable, type MethodName,
  PROTOCOL_HEADER, HEARTBEAT_FRAME, decodeMethod, encodeMethodFrame,
  BASIC_DELIVER, BASIC_ACK, BASIC_NACK,
} from '../protocol';
import { ClientChannel } from './channel';
import { type AmqpUrl, parseAmqpUrl } from './url';
import { AmqpClientError } from './errors';
import { nowMs } from './time';

const TWO_32 = 4294967296;
const CONNECTION_BLOCKED = 0x000a003c;
const CONNECTION_UNBLOCKED = 0x000a003d;
const FRAME_END = 0xce;

// ----------------------------------------------------------------------------------- connection

export interface ConnectOptions {
  /** largest frame we accept and send; default: what the server proposes, at most 131072 */
  frameMax?: number;
  /** heartbeat seconds asked for in tune-ok; default 0 (off) */
  heartbeat?: number;
  connectionName?: string;
  timeoutMs?: number;
  /** client properties merged over the defaults (product, capabilities ...) */
  clientProperties?: FieldTable;
}

export type Rpc = { expect: readonly MethodName[]; resolve: (m: AnyMethod) => void; reject: (e: Error) => void };

export class ClientConnection {
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

  private readonly channels: (ClientChannel | undefined)[] = [];
  private nextChannel = 1;
  // incomplete frame bytes carried over between chunks
  private carry: Buffer[] = [];
  private carryLen = 0;
  private carryNeed = 0;
  private chunkTime = -1;
  private readonly ackDirty: ClientChannel[] = [];
  private readonly rpc0: Rpc[] = [];
  private closeWaiter: (() => void) | null = null;

  private constructor(readonly socket: net.Socket, readonly url: AmqpUrl) {}

  static connect(url: string | AmqpUrl, opts: ConnectOptions = {}): Promise<ClientConnection> {
    const u = typeof url === 'string' ? parseAmqpUrl(url) : url;
    return new Promise((resolve, reject) => {
      const socket = u.tls ? tls.connect(tlsOptions(u.host, u.port, u.tls.cacertfile)) : net.connect({ host: u.host, port: u.port, noDelay: true });
      if (u.tls) socket.setNoDelay(true);
      const conn = new ClientConnection(socket, u);
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
        ...opts.clientProperties,
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
    // As RabbitMQ's clients negotiate it: the smaller of the two, unless one side says 0 (off).
    const ours = opts.heartbeat ?? 0;
    const hb = ours === 0 || tune.heartbeat === 0 ? 0 : Math.min(ours, tune.heartbeat);
    this.send0({ name: 'connection.tune-ok', channelMax: this.channelMax, frameMax: this.frameMax, heartbeat: hb });
    this.send0({ name: 'connection.open', virtualHost: this.url.vhost });
    await this.expect0(['connection.open-ok']);
    if (hb > 0) this.startHeartbeats(hb);
  }

  // A long-lived link (shovel, federation) must notice a peer that vanished without a FIN (a
  // killed host, a dropped route): send a heartbeat every half interval, and give the
  // connection up after two intervals without a byte from the server.
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastRecv = Date.now();
  private startHeartbeats(seconds: number): void {
    const ms = seconds * 1000;
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastRecv > 2 * ms) {
        this.destroy(new AmqpClientError(`missed heartbeats from the server (${seconds} s)`, 0, true));
        return;
      }
      this.socket.write(HEARTBEAT_FRAME);
    }, ms / 2);
    this.heartbeatTimer.unref();
  }

  private send0(m: AnyMethod): void {
    this.socket.write(encodeMethodFrame(0, m));
  }

  private expect0(names: readonly MethodName[]): Promise<AnyMethod> {
    return new Promise((resolve, reject) => this.rpc0.push({ expect: names, resolve, reject }));
  }

  /** Open a channel (one round trip). */
  async openChannel(): Promise<ClientChannel> {
    if (this.closed) throw this.error ?? new Error('connection is closed');
    let id = this.nextChannel;
    while (this.channels[id] !== undefined) id = id >= this.channelMax ? 1 : id + 1;
    this.nextChannel = id >= this.channelMax ? 1 : id + 1;
    const ch = new ClientChannel(this, id);
    this.channels[id] = ch;
    await ch.rpc({ name: 'channel.open' }, ['channel.open-ok']);
    return ch;
  }

  /** @internal */
  forgetChannel(ch: ClientChannel): void {
    if (this.channels[ch.id] === ch) this.channels[ch.id] = undefined;
  }

  /** @internal a channel has deliveries to ack at the end of this chunk */
  markAckDirty(ch: ClientChannel): void {
    this.ackDirty.push(ch);
  }

  write(buf: Buffer): boolean {
    return this.socket.write(buf);
  }

  private corked = false;
  /**
   * Like write(), but what is written in the same tick leaves in one writev: a link republishes
   * every message of a socket chunk it just read, one write each.
   */
  writeBatched(buf: Buffer): boolean {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => { this.corked = false; this.socket.uncork(); });
    }
    return this.socket.write(buf);
  }

  /** Arrival time of the chunk being parsed (computed once per chunk, on first use). */
  currentChunkTime(): number {
    if (this.chunkTime < 0) this.chunkTime = nowMs();
    return this.chunkTime;
  }

  // ---- input --------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastRecv = Date.now();
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
        if (ch) ch.onHeader(buf, p, size);
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
      if (key === BASIC_DELIVER && ch.messageSink !== null) {
        // read in place: consumer-tag, delivery-tag, redelivered, exchange, routing-key
        let o = p + 5 + buf[p + 4];
        const tag = buf.readUInt32BE(o) * TWO_32 + buf.readUInt32BE(o + 4);
        const redelivered = (buf[o + 8] & 1) === 1;
        o += 9;
        const exchange = buf.toString('utf8', o + 1, o + 1 + buf[o]);
        o += 1 + buf[o];
        ch.onDeliverFull(tag, redelivered, exchange, buf.toString('utf8', o + 1, o + 1 + buf[o]));
        return;
      }
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
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const e = err ?? new Error('connection closed');
    for (const r of this.rpc0.splice(0)) r.reject(e);
    for (const ch of this.channels) if (ch) ch.teardown(e);
    this.channels.length = 0;
    this.onClose?.(err);
  }
}

// --------------------------------------------------------------------------------------- channel

// Without a CA file the server certificate is not verified (the bench measures throughput).
function tlsOptions(host: string, port: number, cacertfile: string | undefined): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { host, port, servername: net.isIP(host) ? undefined : host };
  if (cacertfile) o.ca = fs.readFileSync(cacertfile);
  else o.rejectUnauthorized = false;
  return o;
}
