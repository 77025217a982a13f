// A lean Stream protocol client for the benchmarks: publishes pre-encoded frames of N messages
// (publishing ids patched in place), counts confirms by their count field, and counts delivered
// records from each chunk header without decoding messages. Speaks to Warren and RabbitMQ alike.
import * as net from 'node:net';
import { FieldReader, FrameSplitter, FrameWriter } from '../../protocol/stream/frames';

const TWO32 = 4294967296;

export class BenchStreamClient {
  private readonly splitter = new FrameSplitter(0);
  private corr = 1;
  private readonly waiting = new Map<number, (r: FieldReader) => void>();
  private tuneSeen: (() => void) | null = null;
  /** confirmed publishing ids / errors */
  confirmed = 0;
  errored = 0;
  /** records delivered per subscription id */
  readonly records = new Map<number, number>();
  chunks = 0;
  onConfirm: (() => void) | null = null;
  onDeliver: ((sub: number, records: number, chunkId: number, timestamp: number) => void) | null = null;
  /** credit granted back per delivered chunk (0: none) */
  autoCredit = 1;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.splitter.push(d, this.onFrame));
    socket.on('close', () => { this.closed = true; });
    socket.on('error', () => undefined);
  }

  static async connect(host: string, port: number, user = 'guest', pass = 'guest', vhost = '/'): Promise<BenchStreamClient> {
    const s = await new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect(port, host, () => resolve(sock));
      sock.once('error', reject);
    });
    const c = new BenchStreamClient(s);
    await c.request(0x11, (w) => w.i32(0));
    await c.request(0x12, () => undefined);
    const tune = new Promise<void>((r) => { c.tuneSeen = r; });
    const auth = await c.request(0x13, (w) => w.string('PLAIN').bytes(Buffer.from(`\0${user}\0${pass}`)));
    if (auth.u16() !== 1) throw new Error('authentication refused');
    await tune;
    c.send(new FrameWriter().begin(0x14).u32(1048576).u32(0).end());
    const open = await c.request(0x15, (w) => w.string(vhost));
    if (open.u16() !== 1) throw new Error('open refused');
    return c;
  }

  private readonly onFrame = (buf: Buffer, start: number, end: number): void => {
    const key = buf.readUInt16BE(start);
    if (key === 0x0008) {
      // deliver: subscription id [committed chunk id in v2] header
      const version = buf.readUInt16BE(start + 2);
      const sub = buf[start + 4];
      const h = start + 5 + (version === 2 ? 8 : 0);
      const n = buf.readUInt32BE(h + 4);
      const ts = buf.readUInt32BE(h + 8) * TWO32 + buf.readUInt32BE(h + 12);
      const chunkId = buf.readUInt32BE(h + 24) * TWO32 + buf.readUInt32BE(h + 28);
      this.records.set(sub, (this.records.get(sub) ?? 0) + n);
      this.chunks++;
      if (this.autoCredit > 0) this.credit(sub, this.autoCredit);
      this.onDeliver?.(sub, n, chunkId, ts);
      return;
    }
    if (key === 0x0003) {
      this.confirmed += buf.readInt32BE(start + 5);
      this.onConfirm?.();
      return;
    }
    if (key === 0x0004) {
      this.errored += buf.readInt32BE(start + 5);
      this.onConfirm?.();
      return;
    }
    if (key === 0x0014) { this.tuneSeen?.(); return; }
    if (key === 0x0017) return;
    if (key === 0x0016) { this.socket.destroy(); return; }
    if ((key & 0x8000) !== 0 && end - start >= 8) {
      const corr = buf.readUInt32BE(start + 4);
      const w = this.waiting.get(corr);
      if (w !== undefined) {
        this.waiting.delete(corr);
        w(new FieldReader(buf, start + 8, end));
      }
    }
  };

  send(frame: Buffer): boolean {
    return this.socket.write(frame);
  }

  /** Request with a correlation id; resolves to a reader after the correlation id (at the code). */
  request(key: number, body: (w: FrameWriter) => void): Promise<FieldReader> {
    const corr = this.corr++;
    const w = new FrameWriter().begin(key).u32(corr);
    body(w);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer to command ${key}`)), 30000);
      this.waiting.set(corr, (r) => { clearTimeout(t); resolve(r); });
      this.send(w.end());
    });
  }

  async createStream(name: string, args: Record<string, string> = {}): Promise<number> {
    return (await this.request(0x0d, (w) => w.string(name).properties(Object.entries(args)))).u16();
  }

  async deleteStream(name: string): Promise<number> {
    return (await this.request(0x0e, (w) => w.string(name))).u16();
  }

  async declarePublisher(id: number, stream: string, ref: string | null = null): Promise<void> {
    const code = (await this.request(0x01, (w) => w.u8(id).string(ref ?? '').string(stream))).u16();
    if (code !== 1) throw new Error(`declare publisher: code ${code}`);
  }

  /** type: 1 first, 2 last, 3 next, 4 offset, 5 timestamp */
  async subscribe(id: number, stream: string, type: number, value: number, credit: number, props: Record<string, string> = {}): Promise<void> {
    const code = (await this.request(0x07, (w) => {
      w.u8(id).string(stream).u16(type);
      if (type === 4) w.u64(value);
      if (type === 5) w.i64(value);
      w.u16(credit).properties(Object.entries(props));
    })).u16();
    if (code !== 1) throw new Error(`subscribe: code ${code}`);
  }

  credit(sub: number, n: number): void {
    const b = Buffer.allocUnsafe(11);
    b.writeUInt32BE(7, 0);
    b.writeUInt16BE(0x09, 4);
    b.writeUInt16BE(1, 6);
    b[8] = sub;
    b.writeUInt16BE(n, 9);
    this.send(b);
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Publish frames of `perFrame` messages with `size`-byte bodies (AMQP 1.0 data sections), several
 * frames per socket write; publishing ids patched in place.
 */
export class PublishFrames {
  readonly frame: Buffer;
  private readonly idPos: number[] = [];
  private readonly block: Buffer;
  readonly framesPerWrite: number;

  constructor(publisherId: number, readonly perFrame: number, size: number, filterValue: string | null = null) {
    const msg = Buffer.concat([Buffer.from(size < 256 ? [0x00, 0x53, 0x75, 0xa0, size] : [0x00, 0x53, 0x75, 0xb0, size >>> 24, (size >>> 16) & 255, (size >>> 8) & 255, size & 255]), Buffer.alloc(size, 0x2e)]);
    const w = new FrameWriter(64 * 1024).begin(0x02, filterValue === null ? 1 : 2).u8(publisherId).i32(perFrame);
    for (let i = 0; i < perFrame; i++) {
      this.idPos.push(w.pos);
      w.u64(0);
      if (filterValue !== null) w.string(filterValue);
      w.i32(msg.length).raw(msg);
    }
    this.frame = w.end();
    this.framesPerWrite = Math.max(1, Math.floor(64 * 1024 / this.frame.length));
    this.block = Buffer.allocUnsafe(this.frame.length * this.framesPerWrite);
    for (let k = 0; k < this.framesPerWrite; k++) this.frame.copy(this.block, k * this.frame.length);
  }

  /** `frames` frames with ids from nextId on, in one buffer. */
  build(frames: number, nextId: number): Buffer {
    const len = frames * this.frame.length;
    const out = Buffer.allocUnsafe(len);
    this.block.copy(out, 0, 0, Math.min(len, this.block.length));
    if (len > this.block.length) for (let p = this.block.length; p < len; p += this.frame.length) this.frame.copy(out, p);
    let id = nextId;
    for (let f = 0; f < frames; f++) {
      const base = f * this.frame.length;
      for (const p of this.idPos) {
        const hi = Math.floor(id / TWO32);
        out.writeUInt32BE(hi, base + p);
        out.writeUInt32BE(id - hi * TWO32, base + p + 4);
        id++;
      }
    }
    return out;
  }
}
