// An etcd and a Warren cluster of real processes on loopback: free ports, temporary data
// directories, a short lease (3 s) so failovers are quick. Used by test/cluster/ and bench/.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BROKER_ENV } from '../../src/cli/node-flags';
import { Etcd } from '../../src/cluster/etcd';
import { type ClusterStatus, type NodeRecord, keys } from '../../src/cluster/node';
import { MAIN, freePort, tempDir } from './broker';

export const ETCD_BIN = process.env.WARREN_ETCD_BIN ?? '/usr/bin/etcd';
export const etcdAvailable = (): boolean => fs.existsSync(ETCD_BIN);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface EtcdProc { url: string; dir: string; proc: ChildProcess; stop(): Promise<void>; start(): Promise<void> }

export async function startEtcd(): Promise<EtcdProc> {
  // etcd's data on tmpfs where there is one: etcd fsyncs its WAL for every lease keepalive, and
  // beside the suite's fsync-heavy tests (store crash, torture) a keepalive then took seconds,
  // so leaders with a 3 s lease fenced themselves and nodes timed out joining. What is tested
  // is Warren; etcd's own durability is not.
  const dir = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/warren-etcd-') : tempDir('warren-etcd-');
  const client = await freePort();
  const peer = await freePort();
  const url = `http://127.0.0.1:${client}`;
  const e: EtcdProc = {
    url, dir, proc: null as unknown as ChildProcess,
    async start() {
      const proc = spawn(ETCD_BIN, ['--name', 'test', '--data-dir', path.join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url,
        '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-cluster', `test=http://127.0.0.1:${peer}`, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr!.resume();
      e.proc = proc;
      for (let i = 0; i < 100; i++) {
        try { if ((await fetch(`${url}/version`)).ok) return; } catch { /* not yet */ }
        await sleep(100);
      }
      throw new Error('etcd did not start');
    },
    async stop() {
      const p = e.proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    },
  };
  await e.start();
  return e;
}

export interface Node {
  id: string;
  port: number;
  httpPort: number;
  replicationPort: number;
  /** 0 unless the cluster was started with stream: true */
  streamPort: number;
  /** amqps and https ports (0 unless the cluster was started with tls) */
  tlsPort: number;
  httpsPort: number;
  /** the Stream protocol over TLS (with tls) */
  streamTlsPort: number;
  dataDir: string;
  proc: ChildProcess | null;
  logs: string[];
  /** resolves when this process prints its ready line (it leads) */
  ready: Promise<void> | null;
  exitCode: number | null;
  start(): void;
  kill(): Promise<void>;
  stop(): Promise<void>;
  signal(sig: NodeJS.Signals): void;
}

export interface Cluster {
  etcd: EtcdProc;
  client: Etcd;
  nodes: Node[];
  name: string;
  /** the node etcd names as leader, once it serves clients */
  leader(timeoutMs?: number, not?: Node): Promise<Node>;
  status(): Promise<ClusterStatus | null>;
  isr(): Promise<string[]>;
  close(): Promise<void>;
}

export interface ClusterOpts {
  /** node options and environment per node (by index) */
  nodeArgs?: string[]; nodeEnv?: (i: number) => Record<string, string>;
  stream?: boolean; nodes?: number; leaseTtl?: number; maxReplicaLagMs?: number; logLevel?: string; extraArgs?: string[];
  /** TLS options (--tls-cert ...): each node gets its own --tls-port and --http-tls-port */
  tls?: string[] }

export async function startCluster(o: ClusterOpts = {}): Promise<Cluster> {
  const etcd = await startEtcd();
  const client = new Etcd(etcd.url);
  const name = 'test';
  const k = keys(name);
  const nodes: Node[] = [];
  for (let i = 0; i < (o.nodes ?? 3); i++) {
    const port = await freePort();
    const httpPort = await freePort();
    const replicationPort = await freePort();
    const streamPort = o.stream === true ? await freePort() : 0;
    const tlsPort = o.tls !== undefined ? await freePort() : 0;
    const httpsPort = o.tls !== undefined ? await freePort() : 0;
    const streamTlsPort = o.tls !== undefined ? await freePort() : 0;
    const tlsArgs = o.tls !== undefined
      ? ['--tls-port', String(tlsPort), '--http-tls-port', String(httpsPort), '--stream-tls-port', String(streamTlsPort), ...o.tls]
      : [];
    const dataDir = tempDir(`warren-node${i}-`);
    const n: Node = {
      id: `127.0.0.1:${port}`, port, httpPort, replicationPort, streamPort, tlsPort, httpsPort, streamTlsPort, dataDir, proc: null, logs: [], ready: null, exitCode: null,
      start() {
        const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), MAIN, 'start', '--port', String(port), '--http-port', String(httpPort), '--host', '127.0.0.1',
          '--stream-port', String(streamPort), '--data-dir', dataDir, '--log-level', o.logLevel ?? 'info', '--cluster', '--etcd', etcd.url, '--cluster-name', name,
          '--advertise', n.id, '--replication-port', String(replicationPort), '--lease-ttl', String(o.leaseTtl ?? 3),
          '--max-replica-lag', String(o.maxReplicaLagMs ?? 3000), ...tlsArgs, ...(o.extraArgs ?? [])],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...BROKER_ENV, WARREN_CLUSTER_SECRET: 'test-cluster-secret', ...(o.nodeEnv?.(i) ?? {}) } });
        n.proc = proc;
        n.exitCode = null;
        proc.stderr!.setEncoding('utf8');
        proc.stderr!.on('data', (s: string) => { n.logs.push(...s.split('\n').filter(Boolean).map((l) => `[${i}] ${l}`)); });
        n.ready = new Promise<void>((resolve) => {
          let out = '';
          proc.stdout!.setEncoding('utf8');
          proc.stdout!.on('data', (s: string) => { out += s; if (/warren http_port=/.test(out)) resolve(); });
        });
        n.ready.catch(() => undefined);
        proc.once('exit', (code) => { n.exitCode = code ?? -1; });
      },
      async kill() {
        const p = n.proc;
        if (p === null || p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await gone;
      },
      async stop() {
        const p = n.proc;
        if (p === null || p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGCONT');
        p.kill('SIGTERM');
        await Promise.race([gone, sleep(10_000)]);
        await n.kill();
      },
      signal(sig) { n.proc?.kill(sig); },
    };
    nodes.push(n);
  }
  for (const n of nodes) n.start();
  return {
    etcd, client, nodes, name,
    async leader(timeoutMs = 30_000, not?: Node) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const kv = await client.get(k.leader).catch(() => null);
        if (kv !== null) {
          const id = (JSON.parse(kv.value) as NodeRecord).id;
          const n = nodes.find((x) => x.id === id);
          if (n !== undefined && n !== not && n.proc !== null && n.exitCode === null) {
            const ok = await Promise.race([n.ready!.then(() => true), sleep(200).then(() => false)]);
            if (ok) return n;
          }
        }
        await sleep(100);
      }
      throw new Error(`no leader within ${timeoutMs} ms\n${nodes.flatMap((n) => n.logs.slice(-15)).join('\n')}`);
    },
    async status() {
      const kv = await client.get(k.status).catch(() => null);
      return kv === null ? null : JSON.parse(kv.value) as ClusterStatus;
    },
    async isr() {
      const kv = await client.get(k.isr).catch(() => null);
      return kv === null ? [] : (JSON.parse(kv.value) as { members: string[] }).members;
    },
    async close() {
      await Promise.all(nodes.map((n) => n.stop()));
      await etcd.stop();
      for (const n of nodes) fs.rmSync(n.dataDir, { recursive: true, force: true });
      fs.rmSync(etcd.dir, { recursive: true, force: true });
    },
  };
}
