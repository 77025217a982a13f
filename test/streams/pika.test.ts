// Stream queues through pika (Debian's python3-pika), unmodified.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT, startBroker } from '../helpers/broker';

function havePika(): boolean {
  try { execFileSync('/usr/bin/python3', ['-c', 'import pika'], { stdio: 'ignore' }); return true; } catch { return false; }
}

t.test('pika: publish with confirms, consume from first, an offset and last', { skip: havePika() ? false : 'pika for /usr/bin/python3 is not installed (apt-get install -y python3-pika)' }, async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const r = spawnSync('/usr/bin/python3', [path.join(ROOT, 'test', 'fixtures', 'stream_pika.py'), `amqp://guest:guest@127.0.0.1:${b.port}/`, 'pika-stream'],
    { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { reads: Record<string, Array<[number, string, number]>>; errors: Record<string, [number, string]> };
  t.same(out.reads.first.map((x) => x[0]), Array.from({ length: 20 }, (_, i) => i), 'first: offsets 0..19 in the header');
  t.ok(out.reads.first.every(([o, body, i]) => body === `p${o}` && i === o), 'bodies and headers kept');
  t.same(out.reads.ten.map((x) => x[0]), Array.from({ length: 10 }, (_, i) => 10 + i), 'from offset 10');
  t.ok(out.reads.last.length > 0 && out.reads.last[out.reads.last.length - 1][0] === 19, 'last: the newest chunk');
  t.same(out.errors.no_prefetch, [406, "PRECONDITION_FAILED - consumer prefetch count is not set for 'queue 'pika-stream' in vhost '/''"]);
});
