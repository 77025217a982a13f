// A follower's replication connection to the leader: authenticate, send the manifest of the
// local data directory, apply what the leader sends (the differing files, then the live
// operations), and acknowledge each position once the files it touched are fdatasynced.
//
// While it catches up, the local copy is a mix of old and new files: the in-sync marker
// (<data>/.cluster/in-sync, not replicated) is removed before the first change and written
// back once the copy is whole, so a node restarted in the middle never campaigns to lead.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { log } from '../logger';
import { DirApplier } from './apply';
import { channelBinding, checkProof, nonce, proof } from './auth';
import { manifest } from './manifest';
import { FrameReader, T, encodeControl } from './frames';

export const markerFile = (dataDir: string) => path.join(dataDir, '.cluster', 'in-sync');

export function isInSync(dataDir: string): boolean {
  return fs.existsSync(markerFile(dataDir));
}

export function setInSync(dataDir: string, yes: boolean): void {
  const f = markerFile(dataDir);
  if (yes) {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    const fd = fs.openSync(f, 'w');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } else fs.rmSync(f, { force: true });
}

export interface FollowerStreamOptions {
  dataDir: string;
  secret: string;
  id: string;
  host: string;
  port: number;
  /** encrypt the stream (the leader must too); the leader's certificate is not verified: the
   * secret, bound to the TLS session, authenticates it (auth.ts) */
  tls?: boolean;
  onCaughtUp(): void;
  onClose(why: string): void;
}

export class FollowerStream {
  private socket: net.Socket | null = null;
  private readonly applier: DirApplier;
  private closed = false;
  private live = false;
  private appliedPos = 0;
  private ackedPos = 0;
  private roundScheduled = false;
  private firstPending = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: FollowerStreamOptions) {
    this.applier = new DirApplier(path.resolve(o.dataDir));
  }

  get caughtUp(): boolean {
    return this.live;
  }

  async start(): Promise<void> {
    const files = await manifest(path.resolve(this.o.dataDir));
    if (this.closed) return;
    const s = this.o.tls === true
      ? tls.connect({ host: this.o.host, port: this.o.port, rejectUnauthorized: false, minVersion: 'TLSv1.2' })
      : net.connect({ host: this.o.host, port: this.o.port });
    this.socket = s;
    s.setNoDelay(true);
    const myNonce = nonce();
    let authed = false;
    let binding = '';
    const reader = new FrameReader();
    s.on(this.o.tls === true ? 'secureConnect' : 'connect', () => {
      binding = channelBinding(s);
      s.write(encodeControl({ hello: this.o.id, nonce: myNonce, syncOps: true }));
    });
    s.on('error', (e) => this.close(`replication connection: ${e.message}`));
    s.on('close', () => this.close('replication connection closed'));
    s.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (f) => {
          if (f.type === T.Control) {
            const m = f.msg;
            if (!authed) {
              if (!checkProof(this.o.secret, 'leader', myNonce, String(m.nonce), m.proof, binding)) throw new Error('the leader failed authentication (cluster secret?)');
              authed = true;
              // a leader that reports its syncs: make durable what it does (apply.ts)
              this.applier.mirrorSyncs = m.syncOps === true;
              setInSync(this.o.dataDir, false);
              s.write(encodeControl({ proof: proof(this.o.secret, 'follower', String(m.nonce), myNonce, binding), manifest: files }));
            } else if (typeof m.caughtUp === 'number') {
              this.live = true;
              if (m.caughtUp > this.appliedPos) this.appliedPos = m.caughtUp;
              this.scheduleAck(true);
            }
            return;
          }
          if (!authed) throw new Error('file operation before authentication');
          this.applier.apply(f.op.op);
          if (f.op.pos > this.appliedPos) this.appliedPos = f.op.pos;
        });
      } catch (e) {
        this.close((e as Error).message);
        return;
      }
      if (this.live) this.scheduleAck(false);
    });
  }

  // Sync rounds overlap (a round starts for the data of each event loop turn even while the
  // previous one is in the thread pool) but acknowledge in order: a round's position is sent
  // only once every earlier round has completed too, since it covers only the files dirtied
  // after the earlier round began.
  private scheduleAck(first: boolean): void {
    if (first) this.firstPending = true;
    if (this.roundScheduled) return;
    this.roundScheduled = true;
    setImmediate(() => {
      this.roundScheduled = false;
      if (this.closed) return;
      const pos = this.appliedPos;
      const announce = this.firstPending;
      this.firstPending = false;
      // The first round after the catch-up makes the whole copy durable.
      const synced = announce ? this.applier.syncAll() : this.applier.sync();
      this.chain = Promise.all([this.chain, synced]).then(() => {
        if (this.closed) return;
        if (announce) {
          setInSync(this.o.dataDir, true);
          log.info(`replication: caught up with the leader at position ${pos}`);
          this.o.onCaughtUp();
        }
        if (pos > this.ackedPos) {
          this.ackedPos = pos;
          this.socket?.write(encodeControl({ ack: pos }));
        }
      });
      this.chain.catch((e: Error) => this.close(`fdatasync failed: ${e.message}`));
    });
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    this.applier.close();
    this.o.onClose(why);
  }
}
