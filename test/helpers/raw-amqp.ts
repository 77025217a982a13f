// A bare AMQP 0-9-1 client for protocol-edge tests, on the project's codec: it sends exactly the
// frames a test asks for (tx.*, bad frames, odd tune-ok values, heartbeats or none) and records
// every frame the server sends, so tests can assert what a client would observe on the wire.
import * as net from 'node:net';
import {
  type AnyMethod, type BasicProperties, type MethodName, FrameReader, PROTOCOL_HEADER, HEARTBEAT_FRAME,
  decodeMethod, encodeMethodFrame, encodeProperties, encodeContentHeaderFrame, encodeBodyFrames, encodeFrame,
} from '../../src/protocol';

export interface RawFrame {
  type: number;
  channel: number;
  payload: Buffer;
  /** decoded method (method frames the codec knows) */
  method?: AnyMethod;
  /** class and method id of a method frame */
  classId?: number;
  methodId?: number;
  at: number;
}

export interface RawOpenOptions {
  /** values sent in connection.tune-ok; default: the server's proposal, heartbeat 0 */
  tuneOk?: (tune: { channelMax: number; frameMax: number; heartbeat: number }) => { channelMax: number; frameMax: number; heartbeat: number };
  /** stop after connection.tune (no tune-ok) */
  stopAtTune?: boolean;
  /** send connection.open and wait for open-ok (default true) */
  open?: boolean;
  user?: string;
  password?: string;
  vhost?: string;
}

export class RawConn {
  readonly frames: RawFrame[] = [];
  private readonly taken = new Set<RawFrame>();
  private waiters: Array<() => void> = [];
  private readonly reader = new FrameReader(0);
  private headerSeen = false;
  closed = false;
  closedAt = 0;
  readonly whenClosed: Promise<void>;
  tune: { channelMax: number; frameMax: number; heartbeat: number } | null = null;
  frameMax = 131072;
  serverHeader: Buffer | null = null;

  private constructor(readonly socket: net.Socket) {
    this.whenClosed = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.closedAt = Date.now();
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => this.onData(d));
  }

  static connect(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); resolve(new RawConn(s)); });
    });
  }

  /** Connect and run the handshake up to connection.open-ok (or as far as opts say). */
  static async open(port: number, opts: RawOpenOptions = {}): Promise<RawConn> {
    const c = await RawConn.connect(port);
    c.socket.write(PROTOCOL_HEADER);
    await c.expect(0, 'connection.start');
    const user = opts.user ?? 'guest';
    const pass = opts.password ?? 'guest';
    c.send(0, {
      name: 'connection.start-ok',
      clientProperties: {
        product: 'warren-raw-test',
        capabilities: { 'connection.blocked': true, consumer_cancel_notify: true, 'basic.nack': true, publisher_confirms: true, authentication_failure_close: true },
      },
      mechanism: 'PLAIN',
      response: Buffer.from(`\0${user}\0${pass}`),
      locale: 'en_US',
    });
    const tune = await c.expect(0, 'connection.tune');
    if (tune.name !== 'connection.tune') throw new Error('expected connection.tune');
    c.tune = { channelMax: tune.channelMax, frameMax: tune.frameMax, heartbeat: tune.heartbeat };
    if (opts.stopAtTune) return c;
    const ok = opts.tuneOk ? opts.tuneOk(c.tune) : { channelMax: tune.channelMax, frameMax: tune.frameMax, heartbeat: 0 };
    c.frameMax = ok.frameMax === 0 ? 131072 : ok.frameMax;
    c.send(0, { name: 'connection.tune-ok', ...ok });
    if (opts.open === false) return c;
    c.send(0, { name: 'connection.open', virtualHost: opts.vhost ?? '/' });
    await c.expect(0, 'connection.open-ok');
    return c;
  }

  private onData(d: Buffer): void {
    if (!this.headerSeen) {
      this.headerSeen = true;
      if (d.length >= 8 && d.subarray(0, 4).toString('latin1') === 'AMQP') {
        this.serverHeader = d.subarray(0, 8);
        this.wake();
        return;
      }
    }
    try {
      this.reader.push(d, (type, channel, payload) => {
        const f: RawFrame = { type, channel, payload: Buffer.from(payload), at: Date.now() };
        if (type === 1 && payload.length >= 4) {
          f.classId = payload.readUInt16BE(0);
          f.methodId = payload.readUInt16BE(2);
          try { f.method = decodeMethod(f.payload); } catch { /* connection.blocked etc. are not in the codec */ }
        }
        this.frames.push(f);
      });
    } catch {
      this.socket.destroy();
    }
    this.wake();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  // ---- sending ----------------------------------------------------------------------------------

  send(channel: number, m: AnyMethod): void {
    this.socket.write(encodeMethodFrame(channel, m));
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  heartbeat(channel = 0): void {
    if (channel === 0) this.socket.write(HEARTBEAT_FRAME);
    else this.socket.write(encodeFrame(8, channel, Buffer.alloc(0)));
  }

  /** basic.publish + content header + body frames, in one write. */
  publish(channel: number, exchange: string, routingKey: string, body: Buffer | string, props: BasicProperties = {}, flags: { mandatory?: boolean; immediate?: boolean } = {}): void {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    this.socket.write(Buffer.concat([
      encodeMethodFrame(channel, { name: 'basic.publish', exchange, routingKey, mandatory: flags.mandatory ?? false, immediate: flags.immediate ?? false }),
      encodeContentHeaderFrame(channel, 60, b.length, encodeProperties(props)),
      encodeBodyFrames(channel, b, this.frameMax),
    ]));
  }

  async openChannel(channel: number): Promise<void> {
    this.send(channel, { name: 'channel.open' });
    await this.expect(channel, 'channel.open-ok');
  }

  async declareQueue(channel: number, queue: string, opts: { durable?: boolean; exclusive?: boolean; passive?: boolean; autoDelete?: boolean } = {}): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    this.send(channel, { name: 'queue.declare', queue, passive: opts.passive ?? false, durable: opts.durable ?? false, exclusive: opts.exclusive ?? false, autoDelete: opts.autoDelete ?? false, noWait: false, arguments: {} });
    const m = await this.expect(channel, 'queue.declare-ok');
    if (m.name !== 'queue.declare-ok') throw new Error('expected queue.declare-ok');
    return { queue: m.queue, messageCount: m.messageCount, consumerCount: m.consumerCount };
  }

  /** basic.get; returns the delivery tag and body, or null for get-empty. */
  async get(channel: number, queue: string, noAck: boolean): Promise<{ deliveryTag: number; redelivered: boolean; body: Buffer } | null> {
    this.send(channel, { name: 'basic.get', queue, noAck });
    const f = await this.next((x) => x.channel === channel && (x.method?.name === 'basic.get-ok' || x.method?.name === 'basic.get-empty'));
    if (f.method!.name === 'basic.get-empty') return null;
    const m = f.method as Extract<AnyMethod, { name: 'basic.get-ok' }>;
    const body = await this.readContent(channel);
    return { deliveryTag: m.deliveryTag, redelivered: m.redelivered, body };
  }

  /** The content (header + body frames) following a get-ok/deliver/return on this channel. */
  async readContent(channel: number): Promise<Buffer> {
    const h = await this.next((x) => x.channel === channel && x.type === 2);
    const size = Number(h.payload.readBigUInt64BE(4));
    const parts: Buffer[] = [];
    let got = 0;
    while (got < size) {
      const b = await this.next((x) => x.channel === channel && x.type === 3);
      parts.push(b.payload);
      got += b.payload.length;
    }
    return Buffer.concat(parts);
  }

  // ---- receiving --------------------------------------------------------------------------------

  /** The first frame not yet taken that matches pred; waits up to timeoutMs. */
  next(pred: (f: RawFrame) => boolean, timeoutMs = 3000): Promise<RawFrame> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      let timer: NodeJS.Timeout | null = null;
      const check = (): void => {
        for (const f of this.frames) {
          if (this.taken.has(f) || !pred(f)) continue;
          this.taken.add(f);
          if (timer) clearTimeout(timer);
          resolve(f);
          return;
        }
        if (this.closed || Date.now() >= deadline) {
          if (timer) clearTimeout(timer);
          reject(new Error(this.closed ? `connection closed before the expected frame arrived; got: ${this.describe()}` : `timed out; got: ${this.describe()}`));
          return;
        }
        this.waiters.push(check);
      };
      timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== check); check(); }, timeoutMs + 1);
      check();
    });
  }

  /** The next method `name` on `channel`. */
  async expect(channel: number, name: MethodName, timeoutMs = 3000): Promise<AnyMethod> {
    const f = await this.next((x) => x.channel === channel && x.method?.name === name, timeoutMs);
    return f.method!;
  }

  /** Frames matching pred that arrive within ms (not marked as taken). */
  async collect(pred: (f: RawFrame) => boolean, ms: number): Promise<RawFrame[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.frames.filter((f) => !this.taken.has(f) && pred(f));
  }

  /** connection.close from the server: its reply code, text and class/method. */
  async connectionClose(timeoutMs = 3000): Promise<{ replyCode: number; replyText: string; classId: number; methodId: number }> {
    const m = await this.expect(0, 'connection.close', timeoutMs);
    if (m.name !== 'connection.close') throw new Error('expected connection.close');
    return { replyCode: m.replyCode, replyText: m.replyText, classId: m.classId, methodId: m.methodId };
  }

  async channelClose(channel: number, timeoutMs = 3000): Promise<{ replyCode: number; replyText: string; classId: number; methodId: number }> {
    const m = await this.expect(channel, 'channel.close', timeoutMs);
    if (m.name !== 'channel.close') throw new Error('expected channel.close');
    return { replyCode: m.replyCode, replyText: m.replyText, classId: m.classId, methodId: m.methodId };
  }

  describe(): string {
    return this.frames.map((f) => f.type === 1 ? `${f.channel}:${f.method?.name ?? `${f.classId}.${f.methodId}`}` : `${f.channel}:type${f.type}`).join(', ') || '(nothing)';
  }

  destroy(): void {
    this.socket.destroy();
  }
}
