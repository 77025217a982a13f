// `warren start --cluster ...` options (docs/clustering.md). Flags win over WARREN_* variables.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { ClusterOptions } from '../cluster/node';
import { OptionError } from './options';

export interface ClusterFlags {
  cluster?: boolean; etcd?: string; advertise?: string; replicationPort?: string; clusterSecret?: string;
  clusterSecretFile?: string; clusterName?: string; leaseTtl?: string; maxReplicaLag?: string; diskStallLimit?: string;
}

export function addClusterOptions(cmd: Command): void {
  cmd
    .option('--cluster', 'run as a node of a replicated cluster (needs --etcd, --advertise, --replication-port and a secret); env WARREN_CLUSTER=1')
    .option('--etcd <urls>', 'etcd endpoints, comma-separated (http://127.0.0.1:2379); env WARREN_ETCD')
    .option('--advertise <host:port>', 'the AMQP address clients reach this node at; also its id in the cluster; env WARREN_ADVERTISE')
    .option('--replication-port <port>', 'port the leader streams its data directory on; env WARREN_REPLICATION_PORT')
    .option('--cluster-secret <secret>', 'shared secret of the cluster\'s replication connections; env WARREN_CLUSTER_SECRET')
    .option('--cluster-secret-file <file>', 'read the shared secret from this file; env WARREN_CLUSTER_SECRET_FILE')
    .option('--cluster-name <name>', 'etcd key prefix (default: warren); env WARREN_CLUSTER_NAME')
    .option('--lease-ttl <seconds>', 'etcd lease TTL: a dead leader is replaced after about this long (default: 5); env WARREN_LEASE_TTL')
    .option('--max-replica-lag <ms>', 'an in-sync follower that acknowledges nothing for this long leaves the ISR (default: 3000); env WARREN_MAX_REPLICA_LAG')
    .option('--disk-stall-limit <ms>', 'a leader whose fdatasync takes longer steps down (exit 75; default: 10000); env WARREN_DISK_STALL_LIMIT');
}

/** null when the node is not started with --cluster. */
export function clusterOptions(f: ClusterFlags, env: NodeJS.ProcessEnv, dataDir: string): ClusterOptions | null {
  const on = f.cluster === true || env.WARREN_CLUSTER === '1' || env.WARREN_CLUSTER === 'true';
  if (!on) return null;
  const get = (v: string | undefined, name: string) => v ?? (env[name] === '' ? undefined : env[name]); // set but empty: unset
  const need = (v: string | undefined, flag: string): string => {
    if (v === undefined || v.trim() === '') throw new OptionError(`--cluster needs ${flag}`);
    return v.trim();
  };
  const etcd = need(get(f.etcd, 'WARREN_ETCD'), '--etcd');
  const advertise = need(get(f.advertise, 'WARREN_ADVERTISE'), '--advertise');
  if (!/^[^\s:]+:\d+$/.test(advertise) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(advertise)) throw new OptionError(`invalid value '${advertise}' for --advertise: expected host:port`);
  const rp = Number(need(get(f.replicationPort, 'WARREN_REPLICATION_PORT'), '--replication-port'));
  if (!Number.isInteger(rp) || rp < 1 || rp > 65535) throw new OptionError('--replication-port: expected a port number from 1 to 65535');
  let secret = get(f.clusterSecret, 'WARREN_CLUSTER_SECRET');
  const secretFile = get(f.clusterSecretFile, 'WARREN_CLUSTER_SECRET_FILE');
  if (secret === undefined && secretFile !== undefined) {
    try { secret = fs.readFileSync(secretFile, 'utf8').trim(); } catch (e) {
      throw new OptionError(`--cluster-secret-file ${secretFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (secret === undefined || secret.length < 8) throw new OptionError('--cluster needs --cluster-secret or --cluster-secret-file (at least 8 characters)');
  const num = (v: string | undefined, flag: string, def: number, min: number): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new OptionError(`invalid value '${v}' for ${flag}: expected an integer of at least ${min}`);
    return n;
  };
  return {
    etcd, advertise, replicationPort: rp, secret, dataDir,
    name: get(f.clusterName, 'WARREN_CLUSTER_NAME') ?? 'warren',
    leaseTtl: num(get(f.leaseTtl, 'WARREN_LEASE_TTL'), '--lease-ttl', 5, 2),
    maxReplicaLagMs: num(get(f.maxReplicaLag, 'WARREN_MAX_REPLICA_LAG'), '--max-replica-lag', 3000, 100),
    diskStallMs: num(get(f.diskStallLimit, 'WARREN_DISK_STALL_LIMIT'), '--disk-stall-limit', 10_000, 100),
  };
}
