// One node of a Warren cluster: membership and leadership in etcd, and the switch between the
// two roles. A follower keeps a copy of the leader's data directory (follower-stream.ts) and
// serves no client; when the leader key is free and this node is eligible (in the ISR etcd
// holds, with a whole copy; or etcd holds no ISR yet), it campaigns with a transaction that
// also narrows the ISR to itself. The winner opens the broker on its copy (recovery as after a
// crash), taps its data directory and streams it to the followers (leader-stream.ts).
//
// A leader that cannot refresh its lease stops serving (exit code 75) before the lease could
// have expired, so two leaders never serve writes at once: the lease expires no earlier than
// TTL after the last successful refresh was SENT, and the leader exits MARGIN_MS before that.
import * as path from 'node:path';
import { log } from '../logger';
import { setReplicaBarrier } from '../broker/replica-barrier';
import { setReplicationPositionSource } from '../store/replication-position';
import { AckBarrier } from './ack-barrier';
import { Etcd, type Kv } from './etcd';
import { FollowerStream, isInSync, setInSync } from './follower-stream';
import { tapDataDir, type FsTap } from './fs-tap';
import { LeaderStream } from './leader-stream';
import { oldestSyncWaitMs } from '../store/group-commit';
import { addListenerHook } from '../server/listen';
import { type DirLock, lockDataDir } from '../store/dir-lock';
import { ProxyListener, acceptProxyHeader } from './proxy-protocol';

export const EXIT_LEASE_LOST = 75;
const MARGIN_MS = 1000;
const TICK_MS = 250;
// A follower re-enters the ISR once the oldest operation it has not acknowledged is younger.
const REENTER_LAG_S = 0.5;

export interface ClusterOptions {
  etcd: string;
  name: string;            // key prefix in etcd: /<name>/...
  advertise: string;       // host:port clients use for AMQP; also this node's id
  replicationPort: number;
  secret: string;
  leaseTtl: number;        // seconds
  maxReplicaLagMs: number;
  /** a leader whose fdatasync does not return within this steps down */
  diskStallMs: number;
  dataDir: string;
  /** certificate and key to encrypt the replication stream with (null: plaintext) */
  replicationTls?: import('node:tls').SecureContextOptions | null;
  /** reads the certificate and key files again (SIGHUP); throws when they do not load */
  loadReplicationTls?: () => import('node:tls').SecureContextOptions | null;
  /** the ports this node serves clients on; a follower forwards them to the leader (0: none) */
  listen?: { host?: string; amqp: number; http: number; stream: number; amqps?: number; https?: number; streamTls?: number };
}

export interface Leading {
  stop(): Promise<void>; httpPort: number; streamPort: number; tlsPort: number | null; httpTlsPort: number | null; streamTlsPort: number | null;
}

export interface NodeRecord { id: string; amqp: string; replication: string; http?: string; stream?: string; amqps?: string; https?: string; streams?: string }

export interface FollowerStatus {
  id: string; address: string; state: string; inIsr: boolean;
  ackedPos: number; lagBytes: number; lagSeconds: number;
  catchupBytes: number; catchupSkippedBytes: number;
}

export interface ClusterStatus {
  leader: string; isr: string[]; position: number; at: number; followers: FollowerStatus[];
}

export const keys = (name: string) => ({
  leader: `/${name}/leader`,
  isr: `/${name}/isr`,
  status: `/${name}/status`,
  stepDown: `/${name}/step-down`,
  member: (id: string) => `/${name}/members/${id}`,
  members: `/${name}/members/`,
});

/** The node of this process, if any: where metrics and the management API read its status. */
export const thisProcess: { node: ClusterNode | null } = { node: null };

export class ClusterNode {
  readonly etcd: Etcd;
  private readonly k: ReturnType<typeof keys>;
  private readonly id: string;
  private readonly replicationAddr: string;
  private lease = '0';
  private lastLeaseOk = 0;
  private role: 'follower' | 'campaigning' | 'leader' = 'follower';
  private follower: FollowerStream | null = null;
  private following = '';
  private nextConnectAt = 0;
  private leaderRev = 0;
  private stream: LeaderStream | null = null;
  private barrier: AckBarrier | null = null;
  private tap: FsTap | null = null;
  private leading: Leading | null = null;
  private isrChain: Promise<void> = Promise.resolve();
  private isrBusy = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private proxies: ProxyListener[] = [];
  private lock: DirLock | null = null;
  private renewing = false;
  private leaderEndpoints: NodeRecord | null = null;
  /** the leader key's creation revision leaderEndpoints were read for */
  private endpointsOf = 0;
  private memberHosts = new Set<string>();

  constructor(private readonly o: ClusterOptions, private readonly lead: () => Promise<Leading>) {
    this.etcd = new Etcd(o.etcd);
    this.k = keys(o.name);
    this.id = o.advertise;
    const host = o.advertise.replace(/:\d+$/, '');
    this.replicationAddr = `${host}:${o.replicationPort}`;
    thisProcess.node = this;
  }

  get isLeader(): boolean { return this.role === 'leader'; }
  get nodeId(): string { return this.id; }

  async start(): Promise<void> {
    // One process per data directory, as for a single node; released for the broker to take
    // when this node leads.
    this.lock = await lockDataDir(path.resolve(this.o.dataDir));
    await this.newLease();
    await this.startProxies();
    // Refreshes are not serialised: one slow answer from a loaded etcd must not hold back the
    // next, or the watchdog would take a slow etcd for a lost lease.
    this.timers.push(setInterval(() => { if (!this.stopped) this.keepAlive().catch((e: Error) => this.warnOnce(e.message)); }, Math.max(200, (this.o.leaseTtl * 1000) / 6)));
    this.every(100, () => this.watchdog());
    this.every(TICK_MS, () => this.tick());
    log.info(`cluster: node ${this.id} joined cluster '${this.o.name}' (etcd ${this.o.etcd}, lease TTL ${this.o.leaseTtl} s, replication ${(this.o.replicationTls ?? null) !== null ? 'over TLS' : 'in plaintext'})`);
  }

  private every(ms: number, fn: () => Promise<void> | void): void {
    let busy = false;
    this.timers.push(setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      Promise.resolve().then(fn).catch((e: Error) => this.warnOnce(e.message)).finally(() => { busy = false; });
    }, ms));
  }

  // The same failure (etcd down) every tick would flood the log: say it once per 10 s.
  private lastWarn = '';
  private lastWarnAt = 0;
  private warnOnce(msg: string): void {
    const now = Date.now();
    if (msg === this.lastWarn && now - this.lastWarnAt < 10_000) return;
    this.lastWarn = msg;
    this.lastWarnAt = now;
    log.warn(`cluster: ${msg}`);
  }

  // As a follower, this node's client ports forward to the leader's (proxy-protocol.ts); TLS
  // ports too, as bytes (the client's TLS session is with the leader).
  private async startProxies(): Promise<void> {
    const l = this.o.listen;
    if (l === undefined) return;
    const hostPort = (addr: string | undefined) => (addr === undefined ? null : { host: addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''), port: Number(addr.replace(/^.*:/, '')) });
    const specs: Array<[string, number, () => { host: string; port: number } | null]> = [
      ['AMQP', l.amqp, () => hostPort(this.leaderEndpoints?.amqp)],
      ['HTTP', l.http, () => hostPort(this.leaderEndpoints?.http)],
      ['Stream', l.stream, () => hostPort(this.leaderEndpoints?.stream)],
      ['AMQPS', l.amqps ?? 0, () => hostPort(this.leaderEndpoints?.amqps)],
      ['HTTPS', l.https ?? 0, () => hostPort(this.leaderEndpoints?.https)],
      ['Stream TLS', l.streamTls ?? 0, () => hostPort(this.leaderEndpoints?.streams)],
    ];
    for (const [name, port, target] of specs) {
      if (port === 0) continue;
      const p = new ProxyListener(name, target);
      await p.listen(port, l.host);
      this.proxies.push(p);
    }
  }

  private async refreshMembers(): Promise<void> {
    const ms = await this.etcd.getPrefix(this.k.members);
    const hosts = new Set<string>();
    for (const m of ms) {
      const r = JSON.parse(m.value) as NodeRecord;
      hosts.add(r.replication.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''));
    }
    this.memberHosts = hosts;
  }

  private trusted(addr: string): boolean {
    const a = addr.replace(/^::ffff:/, '');
    return this.memberHosts.has(a) || (this.stream?.followers().some((f) => f.address.replace(/^::ffff:/, '').replace(/:\d+$/, '') === a) ?? false);
  }

  private record(): NodeRecord {
    return { id: this.id, amqp: this.o.advertise, replication: this.replicationAddr };
  }

  private async newLease(): Promise<void> {
    const sent = Date.now();
    this.lease = await this.etcd.grant(this.o.leaseTtl);
    this.lastLeaseOk = sent;
    await this.etcd.put(this.k.member(this.id), JSON.stringify({ ...this.record(), role: this.role }), this.lease);
  }

  private async keepAlive(): Promise<void> {
    const sent = Date.now();
    let ttl: number;
    const lease = this.lease;
    try { ttl = await this.etcd.keepAlive(lease); } catch { return; } // the watchdog decides
    if (lease !== this.lease) return; // answered for a lease replaced meanwhile
    if (ttl > 0) { if (sent > this.lastLeaseOk) this.lastLeaseOk = sent; return; }
    if (this.role === 'leader') this.leaseLost('the lease expired');
    else if (!this.renewing) {
      this.renewing = true;
      try { await this.newLease(); } finally { this.renewing = false; }
    }
  }

  private watchdog(): void {
    if (this.role !== 'leader') return;
    if (Date.now() > this.lastLeaseOk + this.o.leaseTtl * 1000 - MARGIN_MS) this.leaseLost('etcd did not refresh the lease in time');
    const stalled = oldestSyncWaitMs();
    if (stalled > this.o.diskStallMs) this.leaseLost(`an fdatasync has not returned for ${stalled} ms`);
  }

  private leaseLost(why: string): never {
    // Stop serving at once: no connection may be confirmed by a node that may no longer lead.
    process.stderr.write(`warren: cluster: leadership lost (${why}); exiting with code ${EXIT_LEASE_LOST}\n`);
    process.exit(EXIT_LEASE_LOST);
  }

  private async tick(): Promise<void> {
    if (this.role === 'leader') return this.leaderTick();
    const leader = await this.etcd.get(this.k.leader);
    if (leader === null) {
      if (await this.campaign()) return;
      return;
    }
    const rec = JSON.parse(leader.value) as NodeRecord;
    if (rec.id === this.id) return; // a lease of an earlier run of this node: wait for it to lapse
    // The leader's client ports, from its member record once it serves (not re-read at every
    // tick: a follower's etcd requests are CPU for etcd and for itself, on a shared machine too).
    if (this.proxies.length > 0 && (this.leaderEndpoints === null || this.endpointsOf !== leader.createRevision)) {
      const m = await this.etcd.get(this.k.member(rec.id));
      const mr = m === null ? null : JSON.parse(m.value) as NodeRecord & { role?: string };
      this.leaderEndpoints = mr !== null && mr.role === 'leader' ? mr : null;
      this.endpointsOf = leader.createRevision;
    }
    const want = `${rec.replication}#${leader.createRevision}`;
    if (this.following !== want && this.follower !== null) this.follower.close('the leader changed');
    if (this.follower === null && Date.now() >= this.nextConnectAt) this.follow(rec, want);
  }

  private follow(rec: NodeRecord, want: string): void {
    const [host, port] = [rec.replication.replace(/:\d+$/, ''), Number(rec.replication.replace(/^.*:/, ''))];
    this.following = want;
    const f = new FollowerStream({
      dataDir: this.o.dataDir, secret: this.o.secret, id: this.id, host, port, tls: (this.o.replicationTls ?? null) !== null,
      onCaughtUp: () => undefined,
      onClose: (why) => {
        if (this.follower === f) { this.follower = null; this.following = ''; }
        this.nextConnectAt = Date.now() + 500;
        if (!this.stopped && this.role === 'follower') log.info(`cluster: replication from ${rec.id} ended: ${why}`);
      },
    });
    this.follower = f;
    log.info(`cluster: following leader ${rec.id} (replication ${rec.replication})`);
    f.start().catch((e: Error) => f.close(e.message));
  }

  private async campaign(): Promise<boolean> {
    const isr = await this.etcd.get(this.k.isr);
    if (isr !== null) {
      const members = (JSON.parse(isr.value) as { members: string[] }).members;
      if (!members.includes(this.id) || !isInSync(this.o.dataDir)) return false;
    }
    if (this.follower !== null && !this.follower.caughtUp && isr !== null) return false;
    const won = await this.etcd.txn(
      [
        { key: this.k.leader, target: 'CREATE', createRevision: 0 },
        isr === null ? { key: this.k.isr, target: 'CREATE', createRevision: 0 } : { key: this.k.isr, target: 'MOD', modRevision: isr.modRevision },
      ],
      [
        { put: { key: this.k.leader, value: JSON.stringify(this.record()), lease: this.lease } },
        { put: { key: this.k.isr, value: JSON.stringify({ members: [this.id], leader: this.id }) } },
      ],
    );
    if (!won) return false;
    const kv = (await this.etcd.get(this.k.leader)) as Kv;
    this.leaderRev = kv.modRevision;
    await this.becomeLeader().catch((e: Error) => {
      // Half a leader is worse than none: leave, and let the lease hand the key on.
      process.stderr.write(`warren: cluster: cannot lead: ${e.stack ?? e.message}\n`);
      process.exit(1);
    });
    return true;
  }

  private async becomeLeader(): Promise<void> {
    const t0 = Date.now();
    this.role = 'leader';
    if (this.follower !== null) {
      const f = this.follower;
      this.follower = null;
      f.close('this node leads now');
    }
    log.info(`cluster: node ${this.id} is the leader`);
    await this.keepAlive(); // the watchdog measures from a fresh refresh
    const dataDir = path.resolve(this.o.dataDir);
    const stream = new LeaderStream(dataDir, this.o.secret, {
      onAck: (id, pos) => this.barrier?.ack(id, pos),
      onCaughtUp: () => undefined,
      onGone: (id) => { if (!this.stopped && this.barrier?.has(id)) this.changeIsr(id, false, 'its replication connection closed'); },
    }, this.o.replicationTls ?? null);
    this.stream = stream;
    this.barrier = new AckBarrier(() => stream.position);
    this.tap = tapDataDir(dataDir, stream.emit);
    setReplicationPositionSource(() => stream.position);
    setReplicaBarrier(this.barrier.wait);
    setInSync(dataDir, true);
    await stream.listen(this.o.replicationPort);
    // The client ports were forwarding to the old leader: this node serves them itself now.
    this.leaderEndpoints = null;
    await Promise.all(this.proxies.map((p) => p.close()));
    this.proxies = [];
    await this.refreshMembers().catch(() => undefined);
    const unhook = addListenerHook((srv) => acceptProxyHeader(srv, (a) => this.trusted(a)));
    this.lock?.release();
    this.lock = null;
    try {
      this.leading = await this.lead();
    } finally {
      unhook();
    }
    const host = this.o.advertise.replace(/:\d+$/, '');
    const l = this.leading;
    await this.etcd.put(this.k.member(this.id), JSON.stringify({
      ...this.record(), role: 'leader', http: `${host}:${l.httpPort}`, ...(l.streamPort > 0 ? { stream: `${host}:${l.streamPort}` } : {}),
      ...(l.tlsPort !== null ? { amqps: `${host}:${l.tlsPort}` } : {}), ...(l.httpTlsPort !== null ? { https: `${host}:${l.httpTlsPort}` } : {}),
      ...(l.streamTlsPort !== null ? { streams: `${host}:${l.streamTlsPort}` } : {}),
    }), this.lease).catch(() => undefined);
    log.info(`cluster: serving as the leader ${((Date.now() - t0) / 1000).toFixed(2)} s after winning the election`);
  }

  // The leader's periodic work: ISR membership by lag, the status record, step-down requests.
  private async leaderTick(): Promise<void> {
    const stream = this.stream;
    const barrier = this.barrier;
    if (stream === null || barrier === null || this.leading === null) return;
    stream.trim();
    // A member whose connection is gone and whose removal did not reach etcd: try again.
    const connected = new Set(stream.followers().map((f) => f.id));
    for (const id of barrier.members) {
      if (!connected.has(id) && !this.isrBusy.has(id)) this.changeIsr(id, false, 'its replication connection closed');
    }
    for (const f of stream.followers()) {
      if (f.state !== 'live' || this.isrBusy.has(f.id)) continue;
      const lag = stream.lagSeconds(f.ackedPos);
      if (barrier.has(f.id) && lag * 1000 > this.o.maxReplicaLagMs) this.changeIsr(f.id, false, `no acknowledgement for ${lag.toFixed(1)} s`);
      else if (!barrier.has(f.id) && lag < REENTER_LAG_S) this.changeIsr(f.id, true, 'caught up');
    }
    const now = Date.now();
    if (now - this.lastStatusAt >= 1000) {
      this.lastStatusAt = now;
      await this.refreshMembers();
      await this.etcd.put(this.k.status, JSON.stringify(this.status()), this.lease);
      const sd = await this.etcd.get(this.k.stepDown);
      if (sd !== null && sd.value === this.id) await this.stepDown();
    }
  }

  private lastStatusAt = 0;

  status(): ClusterStatus {
    const stream = this.stream;
    const barrier = this.barrier;
    const followers: FollowerStatus[] = stream === null ? [] : stream.followers().map((f) => ({
      id: f.id, address: f.address, state: f.state, inIsr: barrier?.has(f.id) ?? false,
      ackedPos: f.ackedPos, lagBytes: stream.lagBytes(f.ackedPos), lagSeconds: Number(stream.lagSeconds(f.ackedPos).toFixed(3)),
      catchupBytes: f.catchupBytes, catchupSkippedBytes: f.catchupSkippedBytes,
    }));
    return { leader: this.id, isr: [this.id, ...(barrier?.members ?? [])], position: stream?.position ?? 0, at: Date.now(), followers };
  }

  /**
   * Adds a follower to the ISR or removes it. The wait set is the larger of the two sets at
   * every moment: a follower joins it before etcd lists it, and leaves it after etcd stopped.
   */
  private changeIsr(id: string, add: boolean, why: string): void {
    const barrier = this.barrier;
    const stream = this.stream;
    if (barrier === null || stream === null) return;
    this.isrBusy.add(id);
    if (add) barrier.add(id, stream.followers().find((f) => f.id === id)?.ackedPos ?? 0);
    this.isrChain = this.isrChain.then(async () => {
      const members = barrier.members.filter((m) => add || m !== id);
      const ok = await this.etcd.txn(
        [{ key: this.k.leader, target: 'MOD', modRevision: this.leaderRev }],
        [{ put: { key: this.k.isr, value: JSON.stringify({ members: [this.id, ...members], leader: this.id }) } }],
      );
      if (!ok) this.leaseLost('the leader key is no longer this node\'s');
      if (!add) barrier.remove(id);
      log.info(`cluster: ${id} ${add ? 'joined' : 'left'} the ISR (${why}); ISR: ${[this.id, ...members].join(', ')}`);
    }).catch((e: Error) => {
      // etcd did not take the change: a removal keeps waiting for the follower (retried on the
      // next tick), an addition is undone (a larger wait set is safe, but keep them equal).
      if (add) barrier.remove(id);
      log.warn(`cluster: ISR change for ${id} not written to etcd: ${e.message}`);
    }).finally(() => this.isrBusy.delete(id));
  }

  /** Leaves leadership cleanly: stop serving, wait for the ISR to hold everything, free the key. */
  async stepDown(): Promise<void> {
    if (this.role !== 'leader' || this.leading === null) return;
    log.info('cluster: stepping down as the leader');
    await this.etcd.del(this.k.stepDown).catch(() => undefined);
    const leading = this.leading;
    this.leading = null;
    await leading.stop();
    const b = this.barrier;
    if (b !== null) await Promise.race([b.wait(), new Promise((r) => setTimeout(r, this.o.maxReplicaLagMs))]);
    await this.shutdown();
    process.exit(0);
  }

  /** Leaves the cluster: stop everything, revoke the lease (frees the leader key at once). */
  /**
   * SIGHUP: the replication stream's certificate and key are read again. A leader hands them to
   * its listener for new follower connections; any node keeps them for when it leads. Throws
   * (and keeps the old ones) when the files do not load.
   */
  reloadTls(): boolean {
    if (this.o.loadReplicationTls === undefined || (this.o.replicationTls ?? null) === null) return false;
    const opts = this.o.loadReplicationTls();
    if (opts === null) return false;
    this.o.replicationTls = opts;
    this.stream?.setTls(opts);
    return true;
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.leading !== null) {
      const l = this.leading;
      this.leading = null;
      await l.stop();
      // The followers get the clean shutdown too (its final writes), within the lag bound.
      const b = this.barrier;
      if (b !== null) await Promise.race([b.wait(), new Promise((r) => setTimeout(r, this.o.maxReplicaLagMs))]);
    }
    this.follower?.close('stopping');
    await Promise.all(this.proxies.map((p) => p.close()));
    this.stream?.close();
    this.tap?.remove();
    setReplicaBarrier(null);
    setReplicationPositionSource(null);
    await this.etcd.revoke(this.lease).catch(() => undefined);
    this.lock?.release();
    this.lock = null;
  }
}
