// `warren start --cluster` refuses incomplete options in one line, before anything is opened.
import t from 'tap';
import { spawnSync } from 'node:child_process';
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
