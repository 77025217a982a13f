// The seed's messaging patterns, run unchanged through pika against a real broker.
import t from 'tap';
import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker, ROOT } from './helpers/broker';

const SCRIPT = path.resolve(ROOT, '..', 'shared', 'patterns', 'run_patterns.sh');

function havePika(): boolean {
  try { execFileSync('/usr/bin/python3', ['-c', 'import pika'], { stdio: 'ignore' }); return true; } catch { return false; }
}

t.test('pika pattern scripts pass against Warren', { skip: !fs.existsSync(SCRIPT) ? `no ${SCRIPT}` : !havePika() ? 'pika for /usr/bin/python3 is not installed (apt-get install -y python3-pika)' : false }, async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const r = spawnSync('bash', [SCRIPT, `amqp://guest:guest@127.0.0.1:${b.port}/`], { encoding: 'utf8', timeout: 240_000 });
  const lines = r.stdout.trim().split('\n');
  for (const l of lines.slice(0, -1)) t.match(l, /^PASS /, l);
  t.equal(lines[lines.length - 1], '10 passed, 0 failed');
  t.equal(r.status, 0);
});
