// What a restart (clean or kill -9) must give back, through real clients: one broker per data
// directory; a queue whose files cannot be read is unavailable, never silently emptied; exact
// counts after a restart; delivery counts and redelivered flags that survive; damaged records
// that cost only themselves.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MAIN, startBroker } from '../helpers/broker';
import { channel, channelErrorCode, confirmChannel, connect, sleep, waitFor } from '../helpers/amqp';
import { durableQueueDir, laneDir } from '../../src/store/data-dir';

t.test('a second broker on the same data directory exits at once, naming it and the owner', async (t) => {
  const b = await startBroker();
  t.teardown(() => b.stop());
  const r = spawnSync(process.execPath, [MAIN, 'start', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', b.dataDir], { encoding: 'utf8', timeout: 15000 });
  t.equal(r.status, 1, 'exit code 1');
  t.match(r.stderr, new RegExp(`data directory ${b.dataDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is in use by another Warren broker \\(pid ${b.proc.pid}\\)`));
  t.notMatch(r.stderr, /\n\s+at /, 'one line, no stack trace');
  // the first broker is undisturbed, and `warren log verify` reads beside it
  const c = await connect(b.url);
  const ch = await confirmChannel(c);
  await ch.assertQueue('lock.q', { durable: true });
  ch.sendToQueue('lock.q', Buffer.from('x'), { persistent: true });
  await ch.waitForConfirms();
  await c.close();
  const v = spawnSync(process.execPath, [MAIN, 'log', 'verify', '--data-dir', b.dataDir], { encoding: 'utf8', timeout: 15000 });
  t.equal(v.status, 0, `verify beside a running broker: ${v.stdout}${v.stderr}`);
});

t.test('a killed broker leaves no stale lock', async (t) => {
  const b = await startBroker();
  await b.kill();
  const again = await startBroker({ dataDir: b.dataDir });
  t.ok(again.port > 0, 'started on the same directory after kill -9');
  await again.stop();
});

t.test('an unreadable ack file makes its queue unavailable, keeps its data, and nothing else', async (t) => {
  let b = await startBroker();
  t.teardown(() => b.stop());
  let c = await connect(b.url);
  let ch = await confirmChannel(c);
  for (const q of ['ackfail.bad', 'ackfail.good']) {
    await ch.assertQueue(q, { durable: true });
    for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from(`${q}-${i}`), { persistent: true });
  }
  await ch.waitForConfirms();
  const g = await channel(c);
  for (let i = 0; i < 4; i++) {
    const m = await g.get('ackfail.bad');
    if (m) g.ack(m);
  }
  await sleep(400); // acks written
  await c.close();
  await b.stop();
  // the ack file becomes unreadable (EISDIR: root can read any file, so a directory stands in)
  const logDir = laneDir(durableQueueDir(b.dataDir, '/', 'ackfail.bad'), 0);
  const ack = path.join(logDir, fs.readdirSync(logDir).find((n) => n.endsWith('.ack')) as string);
  const saved = fs.readFileSync(ack);
  fs.rmSync(ack);
  fs.mkdirSync(ack);
  b = await startBroker({ dataDir: b.dataDir });
  t.ok(b.logs.some((l) => l.includes("queue 'ackfail.bad' in vhost '/': recovery failed") && l.includes(ack)), 'the log names the queue and the file');
  c = await connect(b.url);
  ch = await confirmChannel(c);
  t.equal((await ch.checkQueue('ackfail.good')).messageCount, 10, 'the other queue is served');
  const r = await channelErrorCode(c, (x) => x.checkQueue('ackfail.bad'));
  t.equal(r.code, 404);
  t.match(r.message, /queue 'ackfail.bad' in vhost '\/' is unavailable: its recovery failed/);
  const r2 = await channelErrorCode(c, (x) => x.assertQueue('ackfail.bad', { durable: true }));
  t.equal(r2.code, 404, 'not re-created empty over its data');
  await c.close();
  await b.stop();
  // fixed: the queue comes back with exactly the unacked messages
  fs.rmdirSync(ack);
  fs.writeFileSync(ack, saved);
  b = await startBroker({ dataDir: b.dataDir });
  c = await connect(b.url);
  const ch2 = await channel(c);
  t.equal((await ch2.checkQueue('ackfail.bad')).messageCount, 6, 'acked messages did not come back, unacked ones did');
  await c.close();
});

t.test('transient messages of a durable queue are not counted after a restart, clean or kill -9', async (t) => {
  for (const how of ['clean', 'kill'] as const) {
    let b = await startBroker();
    const c = await connect(b.url);
    const ch = await confirmChannel(c);
    await ch.assertQueue('mixed.q', { durable: true });
    for (let i = 0; i < 20; i++) ch.sendToQueue('mixed.q', Buffer.from(`m${i}`), { persistent: i % 2 === 0 });
    await ch.waitForConfirms();
    await sleep(300); // the transient ones reach the file too (flush timer)
    await c.close().catch(() => undefined);
    if (how === 'clean') await b.stop();
    else await b.kill();
    b = await startBroker({ dataDir: b.dataDir });
    const c2 = await connect(b.url);
    const ch2 = await channel(c2);
    t.equal((await ch2.checkQueue('mixed.q')).messageCount, 10, `${how}: exactly the persistent ones, from the first moment`);
    const got: string[] = [];
    await ch2.consume('mixed.q', (m) => { if (m) got.push(m.content.toString()); }, { noAck: true });
    await waitFor(() => got.length >= 10);
    await sleep(100);
    t.same(got, Array.from({ length: 10 }, (_, i) => `m${i * 2}`), `${how}: the persistent ones, in order`);
    await c2.close();
    await b.stop();
  }
});

t.test('x-delivery-limit counts survive a restart (x-delivery-count goes on)', async (t) => {
  let b = await startBroker();
  t.teardown(() => b.stop());
  let c = await connect(b.url);
  let ch = await confirmChannel(c);
  await ch.assertQueue('dl.q', { durable: true, arguments: { 'x-delivery-limit': 5 } });
  ch.sendToQueue('dl.q', Buffer.from('x'), { persistent: true });
  await ch.waitForConfirms();
  const g = await channel(c);
  for (let i = 0; i < 3; i++) {
    const m = await g.get('dl.q');
    t.ok(m, `delivery ${i + 1}`);
    if (m) g.nack(m, false, true);
  }
  await sleep(400);
  await c.close();
  await b.stop();
  b = await startBroker({ dataDir: b.dataDir });
  c = await connect(b.url);
  ch = await confirmChannel(c);
  const g2 = await channel(c);
  const m = await g2.get('dl.q');
  t.ok(m);
  t.equal(m && m.properties.headers?.['x-delivery-count'], 3, 'the count from before the restart');
  if (m) g2.nack(m, false, true);
  const m2 = await g2.get('dl.q');
  t.equal(m2 && m2.properties.headers?.['x-delivery-count'], 4);
  await c.close();
});

t.test('after kill -9, every message delivered before the crash comes back redelivered', async (t) => {
  let b = await startBroker();
  const c = await connect(b.url);
  const ch = await confirmChannel(c);
  await ch.assertQueue('redeliv.q', { durable: true });
  for (let i = 0; i < 300; i++) ch.sendToQueue('redeliv.q', Buffer.from(String(i)), { persistent: true });
  await ch.waitForConfirms();
  const cons = await channel(c);
  await cons.prefetch(100);
  const delivered = new Set<string>();
  const acked = new Set<string>();
  await cons.consume('redeliv.q', (m) => {
    if (!m) return;
    delivered.add(m.content.toString());
    if (Number(m.content.toString()) % 3 === 0) {
      cons.ack(m);
      acked.add(m.content.toString());
    }
  });
  await waitFor(() => delivered.size >= 100);
  await sleep(200);
  await cons.checkQueue('redeliv.q'); // a round trip: every ack sent so far has been handled
  const ackedBefore = new Set(acked);
  await sleep(700); // more than the 200 ms flush interval, even on a loaded machine
  await b.kill();
  b = await startBroker({ dataDir: b.dataDir });
  const c2 = await connect(b.url);
  const ch2 = await channel(c2);
  const back = new Map<string, boolean>();
  await ch2.consume('redeliv.q', (m) => { if (m) back.set(m.content.toString(), m.fields.redelivered); }, { noAck: true });
  await waitFor(() => back.size >= 300 - acked.size, 5000);
  await sleep(200);
  t.same([...ackedBefore].filter((s) => back.has(s)), [], `none of the ${ackedBefore.size} messages acked before the last flush came back`);
  const wrong = [...delivered].filter((s) => back.has(s) && back.get(s) !== true);
  t.same(wrong, [], `all ${[...delivered].filter((s) => back.has(s)).length} delivered-but-unacked messages came back with redelivered=true`);
  t.equal([...back.keys()].filter((s) => !delivered.has(s)).length, 300 - delivered.size, 'every never-delivered message came back too');
  await c2.close();
  await b.stop();
});

// Flips one byte inside three records of the queue's first segment.
function damageThreeRecords(dataDir: string, queue: string): void {
  const dir = laneDir(durableQueueDir(dataDir, '/', queue), 0);
  const seg = path.join(dir, fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort()[0]);
  const fd = fs.openSync(seg, 'r+');
  const size = fs.fstatSync(fd).size;
  for (const at of [0.2, 0.5, 0.8]) {
    const pos = Math.floor(size * at);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, pos);
    b[0] ^= 0x5a;
    fs.writeSync(fd, b, 0, 1, pos);
  }
  fs.closeSync(fd);
}

t.test('three flipped bytes cost at most three records: every intact one is delivered, the broker stays up', async (t) => {
  for (const how of ['clean', 'kill'] as const) {
    let b = await startBroker();
    const c = await connect(b.url);
    const ch = await confirmChannel(c);
    await ch.assertQueue('corrupt.q', { durable: true });
    for (let i = 0; i < 4000; i++) ch.sendToQueue('corrupt.q', Buffer.from(`message ${i} `.padEnd(200, '.')), { persistent: true });
    await ch.waitForConfirms();
    await c.close();
    if (how === 'clean') await b.stop();
    else await b.kill();
    damageThreeRecords(b.dataDir, 'corrupt.q');
    b = await startBroker({ dataDir: b.dataDir });
    const c2 = await connect(b.url);
    const ch2 = await channel(c2);
    const got = new Set<number>();
    let bad = 0;
    await ch2.consume('corrupt.q', (m) => {
      if (!m) return;
      const s = m.content.toString();
      const mt = /^message (\d+) \.+$/.exec(s);
      if (mt === null || s.length !== 200) bad++;
      else got.add(Number(mt[1]));
    }, { noAck: true });
    await waitFor(() => got.size >= 3997, 10000);
    await sleep(300);
    t.equal(bad, 0, `${how}: no damaged body was served`);
    t.ok(got.size >= 3997, `${how}: ${got.size} of 4000 delivered (at most the 3 damaged records lost)`);
    t.ok(b.logs.some((l) => /damaged at byte \d+/.test(l)), `${how}: the damage is logged with its position`);
    t.equal(b.proc.exitCode, null, `${how}: the broker is still running`);
    const metrics = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
    const m = /^warren_store_corrupt_records_total (\d+)$/m.exec(metrics);
    t.ok(m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 3, `${how}: counted in /metrics (${m?.[1]})`);
    await c2.close();
    await b.stop();
  }
});
