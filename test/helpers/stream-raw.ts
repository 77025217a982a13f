// A bare Stream protocol client for tests that need exact frames (bad input, credit, raw chunks).
import * as net from 'node:net';
import { FieldReader, FrameSplitter, FrameWriter } from '../../src/protocol/stream/frames';

export interface RawFrame {
  key: number;
  version: number;
  /** the frame content after key and version */
  body: Buffer;
  reader(): FieldReader;
}

export class RawStreamClient {
  readonly frames: RawFrame[] = [];
  closed = false;
  private corr = 1;
  private readonly splitter = new FrameSplitter(0);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.splitter.push(d, (buf, start, end) => {
        const body = Buffer.from(buf.subarray(start + 4, end));
        this.frames.push({ key: buf.readUInt16BE(start), version: buf.readUInt16BE(start + 2), body, reader: () => new FieldReader(body, 0, body.length) });
      });
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  static connect(port: number): Promise<RawStreamClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawStreamClient(s)));
      s.once('error', reject);
    });
  }

  /** Connects and opens vhost '/' as guest (tune: the client's frameMax and heartbeat). */
  static async open(port: number, frameMax = 1048576, heartbeat = 0): Promise<RawStreamClient> {
    const c = await RawStreamClient.connect(port);
    await c.request(0x11, (w) => w.i32(0));
    await c.request(0x12, () => undefined);
    const auth = Buffer.from('\0guest\0guest');
    const res = await c.request(0x13, (w) => w.string('PLAIN').bytes(auth));
    if (res.reader().u32() === 0) throw new Error('bad');
    await c.next((f) => f.key === 0x14);
    c.send(new FrameWriter().begin(0x14).u32(frameMax).u32(heartbeat).end());
    const open = await c.request(0x15, (w) => w.string('/'));
    const r = open.reader();
    r.u32();
    if (r.u16() !== 1) throw new Error('open refused');
    return c;
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** A request with a correlation id; resolves to its response frame. */
  async request(key: number, body: (w: FrameWriter) => void, version = 1): Promise<RawFrame> {
    const corr = this.corr++;
    const w = new FrameWriter().begin(key, version).u32(corr);
    body(w);
    this.send(w.end());
    return this.next((f) => f.key === (key | 0x8000) && f.body.readUInt32BE(0) === corr);
  }

  /** The first frame (received or to come) matching; removed from the list. */
  async next(match: (f: RawFrame) => boolean, ms = 3000): Promise<RawFrame> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed) throw new Error('connection closed');
      const left = end - Date.now();
      if (left <= 0) throw new Error('no matching frame');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  /** Resolves once the server has closed the socket. */
  async closedByServer(ms = 3000): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One simple entry: [u32 size][an AMQP 1.0 message with one data section]. */
export function entry(body: Buffer): Buffer {
  const msg = Buffer.concat([Buffer.from([0x00, 0x53, 0x75, 0xa0, body.length]), body]);
  const e = Buffer.alloc(4 + msg.length);
  e.writeUInt32BE(msg.length, 0);
  msg.copy(e, 4);
  return e;
}

/**
 * Declares publisher `publisherId` on `stream` and publishes `n` messages (`${prefix}${k}`), one
 * publish frame per socket write, each confirmed before the next: n chunks of one message.
 */
export async function publishChunks(c: RawStreamClient, stream: string, n: number, prefix = 'c', publisherId = 0): Promise<void> {
  const dp = await c.request(0x01, (w) => w.u8(publisherId).string(null).string(stream));
  if (dp.body.readUInt16BE(4) !== 1) throw new Error(`declare publisher: code ${dp.body.readUInt16BE(4)}`);
  for (let k = 0; k < n; k++) {
    const id = Buffer.alloc(8);
    id.writeUInt32BE(k, 4);
    c.send(new FrameWriter().begin(0x02).u8(publisherId).i32(1).raw(id).raw(entry(Buffer.from(`${prefix}${k}`))).end());
    await c.next((f) => f.key === 0x03);
  }
}
