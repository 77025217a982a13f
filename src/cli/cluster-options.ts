// `warren start --cluster ...` options (docs/clustering.md): flags, then WARREN_* variables, then
// the config file, as for the other start options.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type * as tls from 'node:tls';
import type { ClusterOptions } from '../cluster/node';
import { secureContextOptions } from '../server/tls';
import { OptionError, envName } from './options';

export interface ClusterFlags {
  cluster?: boolean; etcd?: string; advertise?: string; replicationPort?: string; clusterSecret?: string;
  clusterSecretFile?: string; clusterName?: string; leaseTtl?: string; maxReplicaLag?: string; diskStallLimit?: string;
  replicationTls?: string;
  /** the node's TLS certificate and key (security-options.ts), which an encrypted replication stream uses */
  tlsCert?: string; tlsKey?: string;
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
    .option('--disk-stall-limit <ms>', 'a leader whose fdatasync takes longer steps down (exit 75; default: 10000); env WARREN_DISK_STALL_LIMIT')
    .option('--replication-tls <on|off>', 'encrypt the replication stream with --tls-cert/--tls-key and refuse plaintext (default: on when --tls-cert and --tls-key are given); env WARREN_REPLICATION_TLS');
}

/** The config file keys of these options (the flags without dashes). */
export const CLUSTER_KEYS = ['cluster', 'etcd', 'advertise', 'replication-port', 'cluster-secret', 'cluster-secret-file',
  'cluster-name', 'lease-ttl', 'max-replica-lag', 'disk-stall-limit', 'replication-tls'] as const;
type Key = typeof CLUSTER_KEYS[number];

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * null when the node is not started with --cluster. Each option comes from its flag, else its
 * WARREN_* variable (set but empty counts as unset), else the config file (`file`), as the
 * other start options do (options.ts); an error names the option as it was given.
 */
export function clusterOptions(f: ClusterFlags, env: NodeJS.ProcessEnv, dataDir: string, file: Record<string, string> = {}): ClusterOptions | null {
  const flags = f as Record<string, string | boolean | undefined>;
  const named = new Map<Key, string>();
  const get = (k: Key): string | undefined => {
    const flag = flags[camel(k)];
    if (flag !== undefined) { named.set(k, `--${k}`); return String(flag); }
    const e = env[envName(k)];
    if (e !== undefined && e !== '') { named.set(k, `${envName(k)} (from the environment)`); return e; }
    if (file[k] !== undefined) { named.set(k, `'${k}' (from the config file)`); return file[k]; }
    return undefined;
  };
  const name = (k: Key) => named.get(k) ?? `--${k}`;
  const on = get('cluster');
  if (on === undefined || !['1', 'true', 'yes', 'on'].includes(on.trim().toLowerCase())) return null;
  const need = (k: Key): string => {
    const v = get(k);
    if (v === undefined || v.trim() === '') throw new OptionError(`--cluster needs --${k}`);
    return v.trim();
  };
  const etcd = need('etcd');
  const advertise = need('advertise');
  if (!/^[^\s:]+:\d+$/.test(advertise) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(advertise)) throw new OptionError(`invalid value '${advertise}' for ${name('advertise')}: expected host:port`);
  const rp = Number(need('replication-port'));
  if (!Number.isInteger(rp) || rp < 1 || rp > 65535) throw new OptionError(`${name('replication-port')}: expected a port number from 1 to 65535`);
  let secret = get('cluster-secret');
  const secretFile = get('cluster-secret-file');
  if (secret === undefined && secretFile !== undefined) {
    try { secret = fs.readFileSync(secretFile, 'utf8').trim(); } catch (e) {
      throw new OptionError(`${name('cluster-secret-file')} ${secretFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (secret === undefined || secret.length < 8) throw new OptionError('--cluster needs --cluster-secret or --cluster-secret-file (at least 8 characters)');
  const num = (k: Key, def: number, min: number): number => {
    const v = get(k);
    if (v === undefined) return def;
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new OptionError(`invalid value '${v}' for ${name(k)}: expected an integer of at least ${min}`);
    return n;
  };
  return {
    etcd, advertise, replicationPort: rp, secret, dataDir, replicationTls: replicationTls(get('replication-tls'), name('replication-tls'), f),
    loadReplicationTls: () => replicationTls(get('replication-tls'), name('replication-tls'), f),
    name: get('cluster-name') ?? 'warren',
    leaseTtl: num('lease-ttl', 5, 2),
    maxReplicaLagMs: num('max-replica-lag', 3000, 100),
    diskStallMs: num('disk-stall-limit', 10_000, 100),
  };
}

// The replication stream is encrypted with the node's own certificate and key: "on" needs them,
// "off" never encrypts, unset encrypts when they are given (docs/clustering.md).
function replicationTls(v: string | undefined, name: string, f: ClusterFlags): tls.SecureContextOptions | null {
  const mode = v?.trim().toLowerCase();
  if (mode !== undefined && mode !== 'on' && mode !== 'off') throw new OptionError(`invalid value '${v}' for ${name}: expected on or off`);
  const have = f.tlsCert !== undefined && f.tlsKey !== undefined;
  if (mode === 'off' || (mode === undefined && !have)) return null;
  if (!have) throw new OptionError(`${name} needs --tls-cert and --tls-key`);
  try {
    return secureContextOptions({ certFile: f.tlsCert!, keyFile: f.tlsKey! });
  } catch (e) {
    throw new OptionError(`${name}: ${(e as Error).message}`);
  }
}
