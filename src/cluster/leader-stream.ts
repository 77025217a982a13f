// The leader's replication listener. Each follower connection: mutual authentication, then the
// follower's manifest (size and CRC per file); the leader sends only what differs (catch-up),
// while the live operations produced meanwhile wait in a per-follower queue; then the queue, a
// "caught up" marker with the current position, and from then on every file operation as it
// happens. Followers acknowledge the positions they have synced.
//
// Memory stays bounded: a follower whose queue or socket buffer grows past a limit is dropped
// (it reconnects and catches up from the files, which costs a comparison, not the leader's RAM).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { log } from '../logger';
import { channelBinding, checkProof, nonce, proof } from './auth';
import { type FileEntry, fileCrc, listFiles } from './manifest';
import { type FileOp, FrameReader, T, encodeControl, encodeOp } from './frames';

const MAX_PENDING = 256 * 1024 * 1024;
const MAX_SOCKET_BUFFER = 128 * 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface FollowerInfo {
  id: string;
  address: string;
  state: 'auth' | 'catchup' | 'live';
  ackedPos: number;
  lastAckAt: number;
  catchupBytes: number;
  catchupSkippedBytes: number;
}

export interface LeaderStreamEvents {
  onAck(id: string, pos: number): void;
  onCaughtUp(id: string): void;
  onGone(id: string): void;
}

class Link {
  info: FollowerInfo;
  pending: Buffer[] = [];
  pendingBytes = 0;
  out: Buffer[] = [];
  flushScheduled = false;
  closed = false;

  constructor(readonly socket: net.Socket, address: string) {
    this.info = { id: '', address, state: 'auth', ackedPos: 0, lastAckAt: Date.now(), catchupBytes: 0, catchupSkippedBytes: 0 };
  }
}

export class LeaderStream {
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();
  private posNow = 0;
  // (position, time) samples, for the lag of a follower in seconds
  private samples: Array<[number, number]> = [];

  /** `tlsOptions`: certificate and key when the stream is encrypted (then plaintext is refused) */
  constructor(
    private readonly root: string,
    private readonly secret: string,
    private readonly events: LeaderStreamEvents,
    private readonly tlsOptions: tls.SecureContextOptions | null = null,
  ) {}

  get position(): number {
    return this.posNow;
  }

  listen(port: number, host?: string): Promise<number> {
    let srv: net.Server;
    if (this.tlsOptions !== null) {
      const ts = tls.createServer({ ...this.tlsOptions, minVersion: 'TLSv1.2', handshakeTimeout: 10_000 }, (s) => this.accept(s));
      // A follower without --replication-tls (or anything else that does not speak TLS).
      ts.on('tlsClientError', (e, s) => log.warn(`replication: refused a connection from ${s.remoteAddress}: TLS handshake failed (${(e as NodeJS.ErrnoException).code ?? e.message.trim()}); followers need --replication-tls`));
      srv = ts;
    } else srv = net.createServer((s) => this.accept(s));
    this.server = srv;
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ port, host }, () => resolve((srv.address() as net.AddressInfo).port));
    });
  }

  /**
   * New certificate and key (SIGHUP): new follower connections are handshaken with them; the
   * connections open now keep the session they have.
   */
  setTls(opts: tls.SecureContextOptions): void {
    if (this.server instanceof tls.Server) this.server.setSecureContext({ ...opts, minVersion: 'TLSv1.2' });
  }

  followers(): FollowerInfo[] {
    return [...this.links].filter((l) => l.info.id !== '').map((l) => ({ ...l.info }));
  }

  lagBytes(acked: number): number {
    return Math.max(0, this.posNow - acked);
  }

  /** Seconds since the leader wrote the oldest operation `acked` does not cover. */
  lagSeconds(acked: number): number {
    if (acked >= this.posNow) return 0;
    const s = this.samples;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) { // first sample with position > acked
      const mid = (lo + hi) >> 1;
      if (s[mid][0] > acked) hi = mid; else lo = mid + 1;
    }
    return s.length === 0 ? 0 : (Date.now() - s[lo][1]) / 1000;
  }

  /** A file operation of the leader's data directory (from the fs tap). */
  readonly emit = (op: FileOp): void => {
    if (this.links.size === 0) return; // nobody to send it to: a joining follower compares files
    const buf = encodeOp(op, this.posNow);
    this.posNow += buf.length;
    const now = Date.now();
    const s = this.samples;
    if (s.length === 0 || now - s[s.length - 1][1] >= 20) s.push([this.posNow, now]);
    else s[s.length - 1][0] = this.posNow;
    for (const l of this.links) {
      if (l.info.state === 'catchup') {
        l.pending.push(buf);
        l.pendingBytes += buf.length;
        if (l.pendingBytes > MAX_PENDING) this.drop(l, 'too far behind during catch-up');
      } else if (l.info.state === 'live') this.send(l, buf);
    }
  };

  // Operations go out once the current task is done (a sync round's writes and the SYNC of its
  // fdatasync in one writev), not on setImmediate: that waited for the next loop iteration,
  // after the poll phase had read and parsed whatever clients sent meanwhile, while the
  // follower's half of the confirm could already have been on its way.
  private send(l: Link, buf: Buffer): void {
    l.out.push(buf);
    if (!l.flushScheduled) {
      l.flushScheduled = true;
      queueMicrotask(() => this.flush(l));
    }
  }

  private flush(l: Link): void {
    l.flushScheduled = false;
    if (l.closed) return;
    const bufs = l.out;
    l.out = [];
    l.socket.cork();
    for (const b of bufs) l.socket.write(b);
    l.socket.uncork();
    if (l.socket.writableLength > MAX_SOCKET_BUFFER) this.drop(l, 'not reading its replication stream');
  }

  /** Forget samples every follower has acknowledged. */
  trim(): void {
    let low = this.posNow;
    for (const l of this.links) if (l.info.state === 'live' && l.info.ackedPos < low) low = l.info.ackedPos;
    const s = this.samples;
    let i = 0;
    while (i < s.length - 1 && s[i][0] <= low) i++;
    if (i > 0) this.samples = s.slice(i);
  }

  drop(l: Link, why: string): void {
    if (l.closed) return;
    l.closed = true;
    this.links.delete(l);
    l.pending = [];
    l.out = [];
    if (l.info.id !== '') log.warn(`replication: follower ${l.info.id} dropped: ${why}`);
    l.socket.destroy();
    if (l.info.id !== '') this.events.onGone(l.info.id);
  }

  /** Drop the connection of a follower (a removal from the in-sync set, a step-down). */
  dropFollower(id: string, why: string): void {
    for (const l of this.links) if (l.info.id === id) this.drop(l, why);
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const l = new Link(socket, `${socket.remoteAddress}:${socket.remotePort}`);
    this.links.add(l);
    const reader = new FrameReader();
    const myNonce = nonce();
    const binding = channelBinding(socket);
    let theirNonce = '';
    let helloId = '';
    const authTimer = setTimeout(() => this.drop(l, 'no authentication'), 10_000);
    socket.on('error', () => { /* reported by close */ });
    socket.on('close', () => { clearTimeout(authTimer); this.drop(l, 'connection closed'); });
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (f) => {
          if (f.type !== T.Control) throw new Error('a follower sent a file operation');
          const m = f.msg;
          if (l.info.state === 'auth' && theirNonce === '') {
            if (typeof m.hello !== 'string' || typeof m.nonce !== 'string') throw new Error('expected hello');
            // SYNC operations (the leader's fdatasyncs) would end an earlier version's stream.
            if (m.syncOps !== true) {
              log.warn(`replication: refused follower ${m.hello} (${l.info.address}): it runs an earlier Warren version (no SYNC operations); upgrade the followers before the leader`);
              throw new Error('earlier version');
            }
            theirNonce = m.nonce;
            helloId = m.hello;
            socket.write(encodeControl({ nonce: myNonce, proof: proof(this.secret, 'leader', theirNonce, myNonce, binding), syncOps: true }));
          } else if (l.info.state === 'auth') {
            if (!checkProof(this.secret, 'follower', myNonce, theirNonce, m.proof, binding)) {
              log.warn(`replication: refused a follower from ${l.info.address}: bad cluster secret`);
              throw new Error('authentication failed');
            }
            clearTimeout(authTimer);
            const id = helloId;
            for (const other of this.links) if (other !== l && other.info.id === id) this.drop(other, 'replaced by a new connection');
            l.info.id = id;
            l.info.state = 'catchup';
            this.catchUp(l, (m.manifest as FileEntry[] | undefined) ?? []).catch((e: Error) => this.drop(l, `catch-up failed: ${e.message}`));
          } else if (typeof m.ack === 'number') {
            l.info.ackedPos = m.ack;
            l.info.lastAckAt = Date.now();
            if (l.info.state === 'live') this.events.onAck(l.info.id, m.ack);
          }
        });
      } catch (e) {
        this.drop(l, (e as Error).message);
      }
    });
  }

  private async write(l: Link, buf: Buffer): Promise<void> {
    if (l.closed) throw new Error('connection closed');
    if (!l.socket.write(buf)) {
      await new Promise<void>((resolve) => {
        const done = () => { l.socket.off('drain', done); l.socket.off('close', done); resolve(); };
        l.socket.on('drain', done);
        l.socket.on('close', done);
      });
    }
  }

  private async sendFile(l: Link, rel: string, from: number): Promise<void> {
    let fh: fs.promises.FileHandle;
    try { fh = await fs.promises.open(path.join(this.root, rel), 'r'); } catch { return; } // deleted meanwhile: the queue says so
    try {
      let pos = from;
      for (;;) {
        const buf = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
        if (bytesRead === 0) break;
        const f = encodeOp({ t: T.Write, path: rel, at: pos, data: buf.subarray(0, bytesRead) }, null);
        l.info.catchupBytes += bytesRead;
        await this.write(l, f);
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }

  private async catchUp(l: Link, theirs: FileEntry[]): Promise<void> {
    const t0 = Date.now();
    const mine = await listFiles(this.root);
    const have = new Set(mine);
    const byPath = new Map(theirs.map((e) => [e.path, e]));
    let differ = 0;
    for (const e of theirs) {
      if (!have.has(e.path)) await this.write(l, encodeOp({ t: T.Delete, path: e.path }, null));
    }
    for (const rel of mine) {
      let size: number;
      try { size = (await fs.promises.stat(path.join(this.root, rel))).size; } catch { continue; }
      const f = byPath.get(rel);
      if (f !== undefined && f.size <= size) {
        let prefix: { size: number; crc: number } | null = null;
        try { prefix = await fileCrc(path.join(this.root, rel), f.size); } catch { continue; }
        if (prefix.size === f.size && prefix.crc === f.crc) {
          l.info.catchupSkippedBytes += f.size;
          if (size > f.size) { differ++; await this.sendFile(l, rel, f.size); }
          continue;
        }
      }
      differ++;
      await this.write(l, encodeOp({ t: T.Truncate, path: rel, len: 0 }, null));
      await this.sendFile(l, rel, 0);
    }
    if (l.closed) return;
    // The operations made during the copy, then the switch to the live stream.
    for (const b of l.pending) await this.write(l, b);
    l.pending = [];
    l.pendingBytes = 0;
    if (l.closed) return;
    l.socket.write(encodeControl({ caughtUp: this.posNow }));
    l.info.state = 'live';
    l.info.ackedPos = 0;
    log.info(`replication: follower ${l.info.id} caught up in ${((Date.now() - t0) / 1000).toFixed(2)} s: ` +
      `sent ${l.info.catchupBytes} bytes (${differ} files differed), ${l.info.catchupSkippedBytes} bytes already matched`);
    this.events.onCaughtUp(l.info.id);
  }

  close(): void {
    for (const l of [...this.links]) this.drop(l, 'leader stopping');
    this.server?.close();
  }
}
