// Disk full and the free-disk limit (issue 4, item 6): publishers are blocked with
// connection.blocked, confirms still waiting are nacked (never faked), nothing already stored is
// damaged, and publishing resumes when space returns. Consumers keep draining meanwhile.
import t, { type Test } from 'tap';
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker, tempDir, type RunningBroker } from '../helpers/broker';
import type amqp from 'amqplib';
import { channel, confirmChannel, connect, sleep, waitFor, type Conn } from '../helpers/amqp';

function watchBlocked(c: Conn): { blocked: boolean; unblocked: boolean; reasons: string[]; blockedAt: number } {
  const s = { blocked: false, unblocked: false, reasons: [] as string[], blockedAt: 0 };
  c.on('blocked', (reason: string) => { s.blocked = true; s.blockedAt = Date.now(); s.reasons.push(String(reason)); });
  c.on('unblocked', () => { s.unblocked = true; });
  return s;
}

interface Confirms { sent: number; acked: number; nacked: number }

// Persistent publishes of `body` in bursts of 16, each burst's confirms awaited (at most 300 ms),
// until the connection is blocked or `max` were sent. Returns how many were sent. Publishes that
// reach the broker after it blocked the connection are held there, unconfirmed, and stored and
// confirmed once the alarm clears (as RabbitMQ does): count.sent tells how many are still open.
async function fillUntilBlocked(ch: amqp.ConfirmChannel, queue: string, body: Buffer, blocked: { blocked: boolean }, count: Confirms, max = 3000): Promise<number> {
  let n = 0;
  blocked.blocked = false;
  while (!blocked.blocked && n < max) {
    for (let i = 0; i < 16; i++) ch.sendToQueue(queue, body, { persistent: true }, (err) => { if (err) count.nacked++; else count.acked++; });
    n += 16;
    count.sent += 16;
    await Promise.race([ch.waitForConfirms().catch(() => undefined), sleep(300)]);
  }
  return n;
}

// A consumer on a connection of its own (consumers are never blocked) that acks all it gets.
async function drainer(url: string, queue: string): Promise<{ conn: Conn; consumed(): number }> {
  const conn = await connect(url);
  const ch = await channel(conn);
  await ch.prefetch(200);
  let consumed = 0;
  await ch.consume(queue, (m) => { if (m) { consumed++; ch.ack(m); } });
  return { conn, consumed: () => consumed };
}

// Everything in a queue, read without acking (the channel is closed afterwards, so it all goes
// back): body per sequence number (the first 8 bytes of each body).
async function readAll(c: Conn, queue: string, expect: number, ms = 5000): Promise<Map<number, Buffer>> {
  const ch = await channel(c);
  const got = new Map<number, Buffer>();
  let dups = 0;
  await ch.consume(queue, (m) => {
    if (!m) return;
    const seq = Number(m.content.readBigUInt64BE(0));
    if (got.has(seq)) dups++;
    got.set(seq, m.content);
  }, { noAck: false });
  await waitFor(() => got.size >= expect, ms);
  await sleep(200); // anything beyond what we expect would show up now
  await ch.close();
  if (dups > 0) throw new Error(`${dups} duplicate deliveries`);
  return got;
}

t.test('free-disk limit: publishers are blocked before the disk is full; consumers keep going', async (t) => {
  const dataDir = tempDir();
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  // Queue some persistent messages with no limit in force.
  const b1 = await startBroker({ dataDir, extraArgs: ['--disk-free-limit', '0'] });
  {
    const c = await connect(b1.url);
    const ch = await confirmChannel(c);
    await ch.assertQueue('dfl.q', { durable: true });
    for (let i = 0; i < 5; i++) ch.sendToQueue('dfl.q', Buffer.from(`queued-${i}`), { persistent: true });
    await ch.waitForConfirms();
    await c.close();
  }
  t.equal(await b1.stop(), 0);

  // A limit above the filesystem's free space: the alarm is raised at once.
  const st = fs.statfsSync(dataDir);
  const free = st.bavail * st.bsize;
  const limit = free + 10 * 1024 ** 3;
  const b = await startBroker({ dataDir, extraArgs: ['--disk-free-limit', String(limit)] });
  t.teardown(() => b.stop());
  t.ok(await waitFor(() => b.logs.some((l) => /disk alarm set: free disk space \d+ bytes is below the limit/.test(l)), 3000), 'alarm logged');

  // A consuming-only connection is not blocked: it gets what is already queued, and acks it.
  const cons = await connect(b.url);
  const consBlocked = watchBlocked(cons);
  const cch = await channel(cons);
  const consumed: string[] = [];
  await cch.consume('dfl.q', (m) => { if (m) { consumed.push(m.content.toString()); cch.ack(m); } });
  t.ok(await waitFor(() => consumed.length === 5, 3000), 'consumer received the queued messages');
  t.same(consumed, [0, 1, 2, 3, 4].map((i) => `queued-${i}`));

  // A publisher is blocked on its first publish; what it publishes is neither stored nor confirmed.
  const pub = await connect(b.url);
  const pubBlocked = watchBlocked(pub);
  const pch = await confirmChannel(pub);
  const confirms: Array<Error | null> = [];
  for (let i = 0; i < 3; i++) {
    pch.sendToQueue('dfl.q', Buffer.from(`blocked-${i}`), { persistent: true }, (err) => confirms.push(err ?? null));
  }
  t.ok(await waitFor(() => pubBlocked.blocked, 3000), 'publisher received connection.blocked');
  t.same(pubBlocked.reasons, ['low on disk'], 'reason as RabbitMQ words it');
  await sleep(1500);
  t.same(confirms, [], 'no confirm (ack or nack) for publishes made while blocked');
  const check = await channel(cons);
  t.equal((await check.checkQueue('dfl.q')).messageCount, 0, 'queue did not grow');
  t.equal(consumed.length, 5, 'nothing new delivered to the consumer');
  t.notOk(consBlocked.blocked, 'the consuming connection was never blocked');
  // The consumer can still work: consume, declare, ack.
  await check.assertQueue('dfl.other', { durable: false, autoDelete: true });
  await check.close();
  await cons.close();
  await b.stop(); // the blocked connection is closed by the broker's shutdown (320)
});

// A small tmpfs (we run as root in CI); null (and the test skipped) when it cannot be mounted.
function mountTmpfs(t: Test, size: string): string | null {
  const mnt = tempDir('warren-diskfull-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (e) {
    fs.rmSync(mnt, { recursive: true, force: true });
    t.plan(0, `skipped: cannot mount a tmpfs: ${((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim()}`);
    return null;
  }
  return mnt;
}

function unmount(mnt: string): void {
  try { execFileSync('umount', [mnt], { stdio: 'pipe' }); } catch { /* best effort */ }
  fs.rmSync(mnt, { recursive: true, force: true });
}

// A test's small tmpfs and the brokers it starts on it (data in <mnt>/data, the free-disk limit
// given): at teardown the last one is killed if still running, then the tmpfs is unmounted.
// null (the test skipped) when no tmpfs can be mounted.
function onTmpfs(t: Test, size: string): { mnt: string; start(diskFreeLimit: number): Promise<RunningBroker> } | null {
  const mnt = mountTmpfs(t, size);
  if (mnt === null) return null;
  let last: RunningBroker | null = null;
  t.teardown(async () => {
    if (last) await last.kill();
    unmount(mnt);
  });
  return {
    mnt,
    async start(diskFreeLimit) {
      last = await startBroker({ dataDir: path.join(mnt, 'data'), extraArgs: ['--disk-free-limit', String(diskFreeLimit)] });
      return last;
    },
  };
}

// Fills the filesystem of dir to the last byte; returns the filler's path.
function fillUp(dir: string): string {
  const p = path.join(dir, `fill-${Date.now()}`);
  const fd = fs.openSync(p, 'w');
  try {
    for (const n of [1024 * 1024, 64 * 1024, 4096, 512, 1]) {
      const b = Buffer.alloc(n, 7);
      for (;;) {
        try { if (fs.writeSync(fd, b) < n) break; } catch { break; }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return p;
}

t.test('real disk full: nack, block, nothing stored damaged, resume when space returns', async (t) => {
  const tmp = onTmpfs(t, '8m');
  if (tmp === null) return;
  const { mnt } = tmp;
  let broker: RunningBroker;
  const filler = path.join(mnt, 'filler');
  fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024, 1));
  // Limit 0: only a real ENOSPC raises the alarm.
  broker = await tmp.start(0);
  const b = broker;

  const c = await connect(b.url);
  const blocked = watchBlocked(c);
  const ch = await confirmChannel(c);
  await ch.assertQueue('full.q', { durable: true });

  const bodies = new Map<number, Buffer>();
  const acked = new Set<number>();
  const nacked = new Set<number>();
  let seq = 0;
  let outstanding = 0;
  const publish = (): number => {
    const n = seq++;
    const body = crypto.randomBytes(64 * 1024);
    body.writeBigUInt64BE(BigInt(n), 0);
    bodies.set(n, body);
    outstanding++;
    ch.sendToQueue('full.q', body, { persistent: true }, (err) => {
      outstanding--;
      if (err) nacked.add(n); else acked.add(n);
    });
    return n;
  };
  // Publish with a small window until the broker pushes back.
  const deadline = Date.now() + 30000;
  while (!blocked.blocked && nacked.size === 0 && seq < 400 && Date.now() < deadline) {
    publish();
    while (outstanding >= 4 && !blocked.blocked && nacked.size === 0) await sleep(1);
  }
  t.ok(seq < 400, `the disk filled up after ${seq} publishes`);
  t.ok(await waitFor(() => blocked.blocked, 5000), 'connection.blocked received');
  t.same(blocked.reasons, ['low on disk']);
  await waitFor(() => nacked.size > 0, 3000);
  t.ok(nacked.size > 0, `confirms that could not be honoured were nacked (${nacked.size})`);
  await sleep(500);
  const pendingAtBlock = outstanding;
  t.ok(acked.size > 10, `${acked.size} confirmed before the disk filled up`);
  t.ok(b.logs.some((l) => /ENOSPC/.test(l)), 'the broker logged the write error');

  // What a consumer sees now: exactly the confirmed messages, byte for byte.
  const reader = await connect(b.url);
  t.notOk(watchBlocked(reader).blocked);
  let seen = await readAll(reader, 'full.q', acked.size);
  t.same([...seen.keys()].sort((x, y) => x - y), [...acked].sort((x, y) => x - y), 'while full: the confirmed messages, and only those');
  for (const [n, body] of seen) if (!body.equals(bodies.get(n)!)) t.fail(`message ${n} differs`);

  // Space comes back: publishing resumes on its own.
  fs.unlinkSync(filler);
  t.ok(await waitFor(() => blocked.unblocked, 10000), 'connection.unblocked after space returned');
  t.ok(await waitFor(() => outstanding === 0, 5000), `the ${pendingAtBlock} publishes held while blocked were answered`);
  const after = publish();
  t.ok(await waitFor(() => acked.has(after), 5000), 'a new publish is confirmed');
  t.equal(nacked.has(after), false);
  for (const n of nacked) t.notOk(acked.has(n), `message ${n} was nacked, not also acked`);

  seen = await readAll(reader, 'full.q', acked.size);
  const ackedSorted = [...acked].sort((x, y) => x - y);
  t.same([...seen.keys()].sort((x, y) => x - y), ackedSorted, 'after space returned: every confirmed message, no nacked one');
  let same = 0;
  for (const [n, body] of seen) if (body.equals(bodies.get(n)!)) same++;
  t.equal(same, seen.size, 'byte-identical');
  await reader.close();
  await c.close();

  // And after a restart.
  t.equal(await b.stop(), 0, 'clean stop');
  broker = await tmp.start(0);
  const c2 = await connect(broker.url);
  const ch2 = await channel(c2);
  t.equal((await ch2.checkQueue('full.q')).messageCount, acked.size, 'queue length after restart = confirmed count');
  seen = await readAll(c2, 'full.q', acked.size);
  t.same([...seen.keys()].sort((x, y) => x - y), ackedSorted, 'after restart: every confirmed message, no nacked one');
  same = 0;
  for (const [n, body] of seen) if (body.equals(bodies.get(n)!)) same++;
  t.equal(same, seen.size, 'byte-identical after restart');
  t.notOk(broker.logs.some((l) => /truncated|corrupt|unreadable/i.test(l)), 'recovery found nothing to cut');
  await c2.close();
  await broker.stop();
});


t.test('acks made while the disk is full are kept, and written when space returns', async (t) => {
  const tmp = onTmpfs(t, '4m');
  if (tmp === null) return;
  const { mnt } = tmp;
  let broker: RunningBroker;
  broker = await tmp.start(0);
  const c = await connect(broker.url);
  const pch = await confirmChannel(c);
  await pch.assertQueue('acks.q', { durable: true });
  for (let i = 0; i < 20; i++) pch.sendToQueue('acks.q', Buffer.from(`m${i}`), { persistent: true });
  await pch.waitForConfirms();
  // 15 delivered, none acked yet; 15..19 never delivered.
  const cch = await channel(c);
  await cch.prefetch(15);
  const got: Array<{ body: string; msg: import('amqplib').ConsumeMessage }> = [];
  const { consumerTag } = await cch.consume('acks.q', (m) => { if (m) got.push({ body: m.content.toString(), msg: m }); });
  t.ok(await waitFor(() => got.length === 15, 3000), '15 delivered');
  await cch.cancel(consumerTag); // acking must not make room for more deliveries
  await sleep(400); // the delivered marks reach the disk

  const filler = fillUp(mnt);
  for (let i = 0; i < 10; i++) cch.ack(got[i].msg);
  t.ok(await waitFor(() => broker!.logs.some((l) => /ENOSPC/.test(l)), 3000), 'writing the acks failed (ENOSPC)');
  await sleep(300);
  fs.unlinkSync(filler);
  await sleep(600); // the broker's flush timer retries

  await cch.close(); // 10..14 go back to the queue
  await c.close();
  t.equal(await broker.stop(), 0, 'clean stop');
  broker = await tmp.start(0);
  const c2 = await connect(broker.url);
  const ch2 = await channel(c2);
  const after: Array<[string, boolean]> = [];
  await ch2.consume('acks.q', (m) => { if (m) after.push([m.content.toString(), m.fields.redelivered]); }, { noAck: true });
  await waitFor(() => after.length >= 10, 3000);
  await sleep(200);
  t.same(after.map((x) => x[0]), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19].map((i) => `m${i}`),
    'the acks made while the disk was full held: m0..m9 do not come back');
  t.same(after.map((x) => x[1]), [true, true, true, true, true, false, false, false, false, false],
    'delivered-before-the-stop marks intact: only m10..m14 are redelivered');
  await c2.close();
  await broker.stop();
});

// Issue 11: on a 64 MB filesystem the alarm must come before the disk is full, draining must
// give the space back (the open segment included, once fully acked) so the alarm clears, and the
// queue must take new messages again.
t.test('a full queue drained clears the alarm: fill to the limit, drain, refill', async (t) => {
  const tmp = onTmpfs(t, '64m');
  if (tmp === null) return;
  const b = await tmp.start(20 * 1024 * 1024);
  const c = await connect(b.url);
  const blocked = watchBlocked(c);
  const ch = await confirmChannel(c);
  await ch.assertQueue('refill.q', { durable: true });
  const body = Buffer.alloc(32 * 1024, 3);
  const count: Confirms = { sent: 0, acked: 0, nacked: 0 };
  const first = await fillUntilBlocked(ch, 'refill.q', body, blocked, count);
  t.ok(blocked.blocked, `blocked after ${first} publishes`);
  t.notOk(b.logs.some((l) => /ENOSPC/.test(l)), 'the alarm came before any write failed');
  await sleep(300);
  const held = count.acked;
  t.ok(held > 100, `${held} confirmed before the alarm`);

  // drain everything
  blocked.unblocked = false;
  const reader = await drainer(b.url, 'refill.q');
  t.ok(await waitFor(() => blocked.unblocked, 20000), `the alarm cleared once the queue was drained (${reader.consumed()} consumed)`);
  t.ok(reader.consumed() >= held, 'every confirmed message was consumed');

  // and the queue takes new messages again
  const before = count.acked;
  await fillUntilBlocked(ch, 'refill.q', body, blocked, count);
  t.ok(count.acked > before + 100, `refilled: ${count.acked - before} more confirmed`);
  await reader.conn.close().catch(() => undefined);
  await c.close().catch(() => undefined);
});

t.test('a queue that filled the disk to ENOSPC gives the space back once drained', async (t) => {
  // No free-disk limit: the disk really fills, and the last records of the queue's only segment
  // cannot be written. Draining must still free the segment (those records need never be
  // written once acked): before the fix, the alarm never cleared and nothing more was accepted.
  const tmp = onTmpfs(t, '64m');
  if (tmp === null) return;
  const { mnt } = tmp;
  let broker: RunningBroker;
  broker = await tmp.start(0);
  const b = broker;
  const c = await connect(b.url);
  const blocked = watchBlocked(c);
  const ch = await confirmChannel(c);
  await ch.assertQueue('enospc.q', { durable: true });
  const body = Buffer.alloc(32 * 1024, 5);
  const count: Confirms = { sent: 0, acked: 0, nacked: 0 };
  await fillUntilBlocked(ch, 'enospc.q', body, blocked, count);
  // the log line comes through the broker's stderr, which can be read after the AMQP frame
  const logged = await waitFor(() => b.logs.some((l) => /ENOSPC/.test(l)), 3000);
  t.ok(blocked.blocked && logged, `the disk filled: ${count.acked} confirmed, ${count.nacked} nacked, publishers blocked`);
  await sleep(300);
  blocked.unblocked = false;
  const reader = await drainer(b.url, 'enospc.q');
  t.ok(await waitFor(() => blocked.unblocked, 20000), `drained (${reader.consumed()} consumed): the space came back and the alarm cleared`);
  // the publishes held while blocked are stored and confirmed now; the drainer gets those too
  t.ok(await waitFor(() => count.acked + count.nacked === count.sent, 5000), `every publish answered (${count.sent - count.acked - count.nacked} open)`);
  await waitFor(() => reader.consumed() >= count.acked, 5000);
  await sleep(200); // a nacked message that was stored anyway would arrive now
  t.equal(reader.consumed(), count.acked, `every confirmed message was consumed (${count.acked}), and none of the ${count.nacked} nacked`);
  const st = fs.statfsSync(mnt);
  t.ok(st.bavail * st.bsize > 48 * 1024 * 1024, `${Math.round(st.bavail * st.bsize / 1048576)} MiB free again`);
  await reader.conn.close();
  const before = count.acked;
  await fillUntilBlocked(ch, 'enospc.q', body, blocked, count, 320);
  await waitFor(() => count.acked + count.nacked === count.sent, 5000);
  t.equal(count.acked - before, 320, 'new messages are confirmed again');
  // kill -9 and recover: the log restarts from the segment that replaced the dropped one
  await b.kill();
  broker = await tmp.start(0);
  const c2 = await connect(broker.url);
  const ch2 = await channel(c2);
  t.equal((await ch2.checkQueue('enospc.q')).messageCount, 320, 'after kill -9: the 320 confirmed since, no more, no fewer');
  let intact = 0;
  await ch2.consume('enospc.q', (m) => { if (m && m.content.equals(body)) intact++; }, { noAck: true });
  await waitFor(() => intact >= 320, 5000);
  t.equal(intact, 320, 'and their bodies are intact');
  await c2.close();
});

t.test('a start on a full disk serves consumers, and what cannot be written is named', async (t) => {
  const tmp = onTmpfs(t, '16m');
  if (tmp === null) return;
  const { mnt } = tmp;
  let broker: RunningBroker;
  broker = await tmp.start(0);
  const c = await connect(broker.url);
  const ch = await confirmChannel(c);
  await ch.assertQueue('onfull.q', { durable: true });
  for (let i = 0; i < 200; i++) ch.sendToQueue('onfull.q', Buffer.alloc(16 * 1024, i), { persistent: true });
  await ch.waitForConfirms();
  await c.close();
  await broker.stop();
  const filler = fillUp(mnt);
  broker = await tmp.start(0);
  const c2 = await connect(broker.url);
  const ch2 = await channel(c2);
  t.equal((await ch2.checkQueue('onfull.q')).messageCount, 200, 'started on a full disk with every message');
  let got = 0;
  await ch2.consume('onfull.q', (m) => { if (m) { got++; ch2.ack(m); } });
  t.ok(await waitFor(() => got === 200, 10000), `drained: ${got}`);
  t.notOk(broker.logs.some((l) => /ENOSPC/.test(l) && !/\/[^ ]*(\.log|\.ack|\.idx|\.vol|recovery-point|definitions[^ ]*|warren\.lock|\.json)/.test(l)),
    'every write error names its file');
  fs.unlinkSync(filler);
  await c2.close();
});
