// `warren start --cluster` refuses incomplete options in one line, before anything is opened;
// the options come from flags, WARREN_* variables or the config file.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterOptions } from '../../src/cli/cluster-options';
import { readConfigFile } from '../../src/cli/options';
import { MAIN, tempDir } from '../helpers/broker';

function start(args: string[], env: Record<string, string> = {}): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, [MAIN, 'start', '--data-dir', tempDir(), '--port', '0', '--http-port', '0', ...args],
    { encoding: 'utf8', env: { ...process.env, WARREN_CLUSTER_SECRET: '', ...env }, timeout: 20_000 });
  return { code: r.status, err: r.stderr.trim() };
}

t.test('incomplete cluster options are refused with exit code 2', async (t) => {
  const base = ['--cluster', '--etcd', 'http://127.0.0.1:1', '--advertise', '127.0.0.1:5999', '--replication-port', '25999'];
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--cluster'], {}, /--cluster needs --etcd/],
    [['--cluster', '--etcd', 'http://127.0.0.1:1'], {}, /--cluster needs --advertise/],
    [['--cluster', '--etcd', 'http://127.0.0.1:1', '--advertise', 'nohostport'], {}, /--advertise: expected host:port/],
    [['--cluster', '--etcd', 'http://127.0.0.1:1', '--advertise', '127.0.0.1:5999'], {}, /--cluster needs --replication-port/],
    [base, {}, /--cluster-secret/],
    [[...base, '--cluster-secret', 'short'], {}, /at least 8 characters/],
    [[...base, '--cluster-secret-file', '/nonexistent/secret'], {}, /--cluster-secret-file \/nonexistent\/secret: ENOENT/],
    [[...base, '--lease-ttl', '1'], { WARREN_CLUSTER_SECRET: 'long-enough-secret' }, /--lease-ttl/],
    [base, { WARREN_CLUSTER_SECRET: 'long-enough-secret' }, /fixed --port and --http-port/],
  ];
  for (const [args, env, want] of cases) {
    const r = start(args, env);
    t.equal(r.code, 2, `${args.slice(1).join(' ') || '--cluster'}: exit code 2`);
    t.match(r.err, want, r.err);
    t.equal(r.err.split('\n').length, 1, 'one line');
  }
});

t.test('cluster options from the config file: flags, then WARREN_*, then the file', async (t) => {
  const dir = tempDir();
  const conf = path.join(dir, 'warren.conf');
  fs.writeFileSync(conf, ['cluster = true', 'etcd = http://127.0.0.1:1', 'advertise = 127.0.0.1:5999', 'replication-port = 25999',
    'cluster-secret = secret-from-file', 'cluster-name = from-file', 'lease-ttl = 7', 'max-replica-lag = 1500', 'disk-stall-limit = 2500', ''].join('\n'));
  const file = readConfigFile(conf);
  const o = clusterOptions({ leaseTtl: '4' }, { WARREN_LEASE_TTL: '6', WARREN_MAX_REPLICA_LAG: '2000', WARREN_CLUSTER_NAME: '' }, '/d', file)!;
  t.ok(o, 'cluster = true in the file turns cluster mode on');
  t.equal(o.leaseTtl, 4, 'a flag beats the environment and the file');
  t.equal(o.maxReplicaLagMs, 2000, 'the environment beats the file');
  t.equal(o.name, 'from-file', 'an empty variable counts as unset: the file\'s value');
  t.same([o.etcd, o.advertise, o.replicationPort, o.secret, o.diskStallMs], ['http://127.0.0.1:1', '127.0.0.1:5999', 25999, 'secret-from-file', 2500], 'the rest from the file');
  t.equal(clusterOptions({}, {}, '/d', { ...file, cluster: 'false' }), null, 'cluster = false: a single node');
  t.throws(() => clusterOptions({}, {}, '/d', { ...file, 'lease-ttl': 'soon' }), /invalid value 'soon' for 'lease-ttl' \(from the config file\)/);
  t.throws(() => clusterOptions({}, { WARREN_LEASE_TTL: '1' }, '/d', file), /WARREN_LEASE_TTL \(from the environment\)/);
  t.equal(o.replicationTls, null, 'no --tls-cert: the replication stream is not encrypted');
  t.throws(() => clusterOptions({}, {}, '/d', { ...file, 'replication-tls': 'on' }), /'replication-tls' \(from the config file\) needs --tls-cert and --tls-key/);
  t.throws(() => clusterOptions({ replicationTls: 'maybe' }, {}, '/d', file), /invalid value 'maybe' for --replication-tls: expected on or off/);
  t.throws(() => clusterOptions({ tlsCert: '/nonexistent.pem', tlsKey: '/nonexistent.key' }, {}, '/d', file), /--replication-tls: TLS certificate file \/nonexistent.pem/,
    'with --tls-cert and --tls-key it is encrypted by default (and the files must load)');
  t.equal(clusterOptions({ tlsCert: '/nonexistent.pem', tlsKey: '/nonexistent.key' }, { WARREN_REPLICATION_TLS: 'off' }, '/d', file)!.replicationTls, null, 'unless off');
  // The whole start path: the file's cluster options are read (not refused as unknown), so
  // startup gets as far as the port check for cluster nodes.
  const r = start(['--config', conf]);
  t.equal(r.code, 2, r.err);
  t.match(r.err, /--cluster needs a fixed --port and --http-port/, 'warren start --config reads the cluster options');
  fs.writeFileSync(conf, 'cluster = true\nbogus-cluster-option = 1\n');
  t.match(start(['--config', conf]).err, /unknown option 'bogus-cluster-option' in config file/, 'unknown keys are still refused');
});
