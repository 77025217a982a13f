// A leader whose disk stalls (an fdatasync that does not return within --disk-stall-limit)
// steps down (exit 75) instead of holding every confirm of the cluster; an in-sync follower
// takes over and publishing goes on.
import t from 'tap';
import amqp from 'amqplib';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { etcdAvailable, startCluster } from '../helpers/cluster';
import { ROOT, tempDir } from '../helpers/broker';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a leader whose fdatasync stalls steps down and a follower takes over', { skip: etcdAvailable() ? false : 'no etcd binary' }, async (t) => {
  const flags = tempDir('warren-stall-');
  const stallFile = (i: number) => path.join(flags, `stall-${i}`);
  const c = await startCluster({
    leaseTtl: 3, extraArgs: ['--disk-stall-limit', '1000'],
    nodeArgs: ['-r', path.join(ROOT, 'test', 'fixtures', 'slow-sync.js')],
    nodeEnv: (i) => ({ WARREN_TEST_SYNC_DELAY_MS: '5000', WARREN_TEST_SYNC_DELAY_FILE: stallFile(i) }),
  });
  t.teardown(async () => { await c.close(); fs.rmSync(flags, { recursive: true, force: true }); });
  try {
    const leader = await c.leader();
    const until = Date.now() + 20_000;
    while ((await c.isr()).length < 3 && Date.now() < until) await sleep(100);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${leader.port}`);
    conn.on('error', () => undefined);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('stall', { durable: true });
    ch.sendToQueue('stall', Buffer.from('before'), { persistent: true });
    await ch.waitForConfirms();
    const exited = new Promise<number>((r) => leader.proc!.once('exit', (code) => r(code ?? -1)));
    fs.writeFileSync(stallFile(c.nodes.indexOf(leader)), '');
    const t0 = Date.now();
    ch.sendToQueue('stall', Buffer.from('stalled'), { persistent: true });
    ch.waitForConfirms().catch(() => undefined);
    const code = await Promise.race([exited, sleep(10_000).then(() => -2)]);
    t.equal(code, 75, `the stalled leader exits with 75 (after ${Date.now() - t0} ms, limit 1000 ms)`);
    const next = await c.leader(30_000, leader);
    const conn2 = await amqp.connect(`amqp://guest:guest@127.0.0.1:${next.port}`);
    const ch2 = await conn2.createConfirmChannel();
    ch2.sendToQueue('stall', Buffer.from('after'), { persistent: true });
    await ch2.waitForConfirms();
    const got: string[] = [];
    for (;;) {
      const m = await ch2.get('stall', { noAck: true });
      if (m === false) break;
      got.push(m.content.toString());
    }
    t.ok(got.includes('before') && got.includes('after'), `the new leader has the confirmed messages and confirms new ones (${got.join(', ')})`);
    await conn2.close();
  } catch (e) {
    t.comment(c.nodes.flatMap((n) => n.logs.slice(-20)).join('\n'));
    throw e;
  }
});
