// Starts a throwaway RabbitMQ node (Debian's rabbitmq-server) for the interop tests
// (test/links/rabbitmq-interop.test.ts) and the shovel benchmark's comparison: free ports, a
// temporary node name, data, log and HOME (its Erlang cookie), its own epmd port, with the
// shovel, federation and management plugins.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../src/loadgen/free-port';

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export interface RabbitNode {
  port: number;
  httpPort: number;
  url: string;
  stop(): Promise<void>;
}

export function rabbitmqInstalled(): boolean {
  return fs.existsSync(SERVER);
}

export async function startRabbit(timeoutMs = 90_000): Promise<RabbitNode> {
  const dir = tempDir('warren-rabbitmq-');
  const [port, httpPort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'rabbitmq.conf'), [
    `listeners.tcp.default = ${port}`, `management.tcp.port = ${httpPort}`, 'loopback_users = none',
    'log.console = false', 'log.file.level = warning',
  ].join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[rabbitmq_shovel,rabbitmq_shovel_management,rabbitmq_federation,rabbitmq_federation_management,rabbitmq_management].\n');
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: `warren-test-${path.basename(dir).slice(-6)}@localhost`,
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'), RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'), RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: path.join(dir, 'plugins-expand'), RABBITMQ_PID_FILE: path.join(dir, 'pid'),
    RABBITMQ_DIST_PORT: String(distPort), ERL_EPMD_PORT: String(epmdPort), HOME: dir,
  };
  // its own process group: the node, its port programs and its epmd end together
  const proc = spawn(SERVER, [], { env, stdio: 'ignore', detached: true });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    try { process.kill(-proc.pid!, 'SIGTERM'); } catch { /* gone */ }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ }
    killEpmd(epmdPort);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const end = Date.now() + timeoutMs;
  const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');
  for (;;) {
    if (proc.exitCode !== null) { await stop(); throw new Error(`rabbitmq-server exited with ${proc.exitCode}`); }
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/api/overview`, { headers: { authorization: auth } });
      if (r.ok) break;
    } catch { /* not yet */ }
    if (Date.now() > end) { await stop(); throw new Error('rabbitmq-server did not start in time'); }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { port, httpPort, url: `amqp://guest:guest@127.0.0.1:${port}`, stop };
}

// epmd daemonizes out of the node's process group; ours is the one on our port.
function killEpmd(port: number): void {
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('epmd') && env.split('\0').includes(`ERL_EPMD_PORT=${port}`)) process.kill(Number(pid), 'SIGTERM');
    } catch { /* not ours or gone */ }
  }
}
