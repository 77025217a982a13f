// `warren start` options: flags > WARREN_* environment > config file > defaults; bad values and
// busy ports are one line on stderr and a non-zero exit before the data directory is created;
// --definitions loads a file at boot.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MAIN, ROOT, startBroker, tempDir } from '../helpers/broker';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { resolveStartOptions, OptionError } = require(path.join(ROOT, 'dist', 'src', 'cli', 'options.js')) as typeof import('../../src/cli/options');

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, 'start', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', stdout = '';
    p.stderr.on('data', (d) => { stderr += d; });
    p.stdout.on('data', (d) => { stdout += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    p.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr, stdout }); });
  });
}

t.test('precedence: flags, then environment, then config file, then defaults', async (t) => {
  const dir = tempDir();
  const conf = path.join(dir, 'warren.conf');
  fs.writeFileSync(conf, 'port = 1111\nhttp-port = 2222\nheartbeat = 7 # seconds\ndata-dir = /from/file\n');
  const o = resolveStartOptions({ port: '3333' }, { WARREN_HTTP_PORT: '4444', WARREN_HEARTBEAT: '9' }, conf);
  t.equal(o.port, 3333, 'flag beats environment and file');
  t.equal(o.httpPort, 4444, 'environment beats file');
  t.equal(o.heartbeat, 9);
  t.equal(o.dataDir, '/from/file', 'file beats default');
  t.equal(o.consumerTimeoutMs, 1800000, 'default');
  t.equal(o.logLevel, 'info');
  const json = path.join(dir, 'warren.json');
  fs.writeFileSync(json, JSON.stringify({ port: 5673, 'log-level': 'warning' }));
  const j = resolveStartOptions({}, { WARREN_CONFIG: json }, undefined);
  t.equal(j.port, 5673, 'JSON config through WARREN_CONFIG');
  t.equal(j.logLevel, 'warning');
  t.throws(() => resolveStartOptions({ heartbeat: 'x' }, {}, undefined), new OptionError("invalid value 'x' for --heartbeat: expected a non-negative integer"));
  t.throws(() => resolveStartOptions({}, { WARREN_PORT: '70000' }, undefined), /WARREN_PORT \(from the environment\)/);
});

t.test('startup failures are one line, exit non-zero, and open nothing', async (t) => {
  const dir = tempDir();
  const data = path.join(dir, 'data');
  const cases: Array<{ args: string[]; env?: Record<string, string>; code: number; line: RegExp }> = [
    { args: ['--port', 'abc'], code: 2, line: /^warren: invalid value 'abc' for --port: expected a port number from 0 to 65535$/ },
    { args: ['--port', '0', '--log-level', 'loud'], code: 2, line: /^warren: invalid value 'loud' for --log-level/ },
    { args: ['--port', '0'], env: { WARREN_DISK_FREE_LIMIT: '-1' }, code: 2, line: /^warren: invalid value '-1' for WARREN_DISK_FREE_LIMIT \(from the environment\)/ },
    { args: ['--port', '0', '--config', path.join(dir, 'missing.conf')], code: 2, line: /^warren: cannot read config file .*missing\.conf: ENOENT$/ },
    { args: ['--port', '0', '--definitions', path.join(dir, 'nope.json')], code: 2, line: /^warren: --definitions: no such file/ },
  ];
  for (const c of cases) {
    const r = await run([...c.args, '--http-port', '0', '--data-dir', data], c.env);
    t.equal(r.code, c.code, `exit ${c.code}: ${c.args.join(' ')}`);
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, 'one line');
    t.match(lines[0], c.line);
    t.notOk(fs.existsSync(data), 'the data directory was not created');
  }
  // a port in use names the listener and the port, before the data directory is opened
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => busy.close());
  const port = (busy.address() as net.AddressInfo).port;
  const amqp = await run(['--host', '127.0.0.1', '--port', String(port), '--http-port', '0', '--data-dir', data]);
  t.equal(amqp.code, 1);
  t.equal(amqp.stderr, `warren: cannot start the AMQP listener: port ${port} is already in use\n`);
  const httpBusy = await run(['--host', '127.0.0.1', '--port', '0', '--http-port', String(port), '--data-dir', data]);
  t.equal(httpBusy.code, 1);
  t.equal(httpBusy.stderr, `warren: cannot start the HTTP listener: port ${port} is already in use\n`);
  t.notOk(fs.existsSync(data), 'the data directory was not created');
  // definitions that Warren refuses stop the start with the reason
  const bad = path.join(dir, 'bad-defs.json');
  fs.writeFileSync(bad, JSON.stringify({ policies: [{ vhost: '/', name: 'p', pattern: '.', definition: { 'ha-mode': 'all' } }] }));
  const refused = await run(['--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--data-dir', data, '--log-level', 'none', '--definitions', bad]);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^warren: definitions from .*bad-defs\.json refused: (policies\[0\]: )?policy 'p' in vhost '\/': .*ha-mode.*\n$/);
});

t.test('--definitions loads a file at boot', async (t) => {
  const dir = tempDir();
  const defs = path.join(dir, 'defs.json');
  fs.writeFileSync(defs, JSON.stringify({
    queues: [{ name: 'boot-q', vhost: '/', durable: true, auto_delete: false, arguments: {} }],
    policies: [{ vhost: '/', name: 'boot-p', pattern: '^boot-', 'apply-to': 'queues', definition: { 'max-length': 5 }, priority: 0 }],
  }));
  const b = await startBroker({ logLevel: 'warning', extraArgs: ['--definitions', defs] });
  t.teardown(() => b.stop());
  const res = await fetch(`http://127.0.0.1:${b.httpPort}/api/queues/%2F/boot-q`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
  const q = await res.json() as { policy: string; effective_policy_definition: Record<string, unknown> };
  t.equal(q.policy, 'boot-p');
  t.same(q.effective_policy_definition, { 'max-length': 5 });
});
