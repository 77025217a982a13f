// Stream queues survive a clean restart and a kill -9 in the middle of a publish: every
// confirmed message is there, in order, with its offset; offsets continue after the restart.
import t from 'tap';
import type * as amqp from 'amqplib';
import { execFileSync } from 'node:child_process';
import { MAIN, startBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, sleep, waitFor } from '../helpers/amqp';
import { abandonStreamClient, closeStreamClient } from '../helpers/stream-client';

async function readAll(url: string, q: string, n: number): Promise<amqp.ConsumeMessage[]> {
  const c = await connect(url);
  const ch = await channel(c);
  await ch.prefetch(2000);
  const got: amqp.ConsumeMessage[] = [];
  await ch.consume(q, (m) => { if (m) { got.push(m); ch.ack(m); } }, { arguments: { 'x-stream-offset': 'first' } });
  await waitFor(() => got.length >= n, 10000);
  await sleep(100);
  await c.close();
  return got;
}

t.test('a clean restart keeps the stream; offsets continue', async (t) => {
  const b1 = await startBroker({ logLevel: 'warning' });
  const c1 = await connect(b1.url);
  const ch = await confirmChannel(c1);
  await ch.assertQueue('s', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': 8192 } });
  for (let i = 0; i < 300; i++) ch.sendToQueue('s', Buffer.from(`a${i}`), { headers: { i } });
  await ch.waitForConfirms();
  await c1.close();
  t.equal(await b1.stop(), 0);

  const b2 = await startBroker({ dataDir: b1.dataDir, logLevel: 'warning' });
  t.teardown(() => b2.stop());
  const c2 = await connect(b2.url);
  const ch2 = await confirmChannel(c2);
  const ok = await ch2.checkQueue('s');
  t.equal(ok.messageCount, 300);
  for (let i = 300; i < 310; i++) ch2.sendToQueue('s', Buffer.from(`a${i}`), { headers: { i } });
  await ch2.waitForConfirms();
  await c2.close();
  const got = await readAll(b2.url, 's', 310);
  t.equal(got.length, 310);
  t.ok(got.every((m, k) => m.content.toString() === `a${k}` && m.properties.headers?.['x-stream-offset'] === k && m.properties.headers?.i === k),
    'every message at its offset, the ones after the restart too');

  // the log tools read streams (read-only, while the broker runs)
  const verify = execFileSync(process.execPath, [MAIN, 'log', 'verify', '--data-dir', b2.dataDir, '--queue', 's'], { encoding: 'utf8' });
  t.match(verify, /verify: OK: 1 queue, 1 log, \d+ segments/);
  const dump = execFileSync(process.execPath, [MAIN, 'log', 'dump', '--data-dir', b2.dataDir, '--queue', 's', '--json', '--body', '--from', '298', '--to', '301'], { encoding: 'utf8' })
    .trim().split('\n').map((l) => JSON.parse(l) as { offset: number; body: string; routing_key: string; properties: { headers: { i: number } } });
  const want = dump.filter((m) => m.offset >= 298 && m.offset <= 301);
  t.same(want.map((m) => [m.offset, m.body, m.routing_key, m.properties.headers.i]), [[298, 'a298', 's', 298], [299, 'a299', 's', 299], [300, 'a300', 's', 300], [301, 'a301', 's', 301]],
    'dump: one line per message, with offset, routing key, properties and body');
});

t.test('kill -9 in the middle of a publish: every confirmed message is kept', async (t) => {
  const b1 = await startBroker({ logLevel: 'warning' });
  const c1 = await connect(b1.url);
  const setup = await channel(c1);
  await setup.assertQueue('k', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': 65536 } });
  const ch = await confirmChannel(c1);
  let confirmed = -1;
  let sent = 0;
  let stop = false;
  const pump = (async () => {
    while (!stop) {
      const batch: Promise<void>[] = [];
      for (let k = 0; k < 50; k++) {
        const i = sent++;
        batch.push(new Promise((resolve) => {
          try {
            ch.sendToQueue('k', Buffer.from(`k${i}`), {}, (err) => {
              if (err === null && i > confirmed) confirmed = i;
              resolve();
            });
          } catch {
            stop = true; // the broker is gone
            resolve();
          }
        }));
      }
      await Promise.race([Promise.all(batch), sleep(500)]);
    }
  })();
  await waitFor(() => confirmed >= 3000, 20000);
  await b1.kill();
  stop = true;
  await pump.catch(() => undefined);
  t.ok(confirmed >= 3000, `${confirmed + 1} confirmed before the kill`);

  const b2 = await startBroker({ dataDir: b1.dataDir, logLevel: 'warning' });
  t.teardown(() => b2.stop());
  const got = await readAll(b2.url, 'k', confirmed + 1);
  t.ok(got.length >= confirmed + 1, `${got.length} messages after the restart`);
  const bad = got.findIndex((m, k) => m.content.toString() !== `k${k}` || m.properties.headers?.['x-stream-offset'] !== k);
  t.equal(bad, -1, 'in order, no gap, no duplicate');
});

t.test('Stream protocol, kill -9 during a publish: confirmed messages are kept, de-duplication state too', async (t) => {
  const rabbit = await import('rabbitmq-stream-js-client');
  const b1 = await startBroker({ logLevel: 'warning', stream: true });
  const c1 = await rabbit.connect({ hostname: '127.0.0.1', port: b1.streamPort, username: 'guest', password: 'guest', vhost: '/' });
  c1.on?.('error', () => undefined);
  await c1.createStream({ stream: 'k9', arguments: { 'stream-max-segment-size-bytes': 200000 } });
  const pub = await c1.declarePublisher({ stream: 'k9', publisherRef: 'writer' });
  let maxConfirmed = 0n;
  pub.on('publish_confirm', (err, ids) => { if (err === null) for (const id of ids) if (id > maxConfirmed) maxConfirmed = id; });
  let stop = false;
  const pump = (async () => {
    let i = 0n;
    while (!stop) {
      i++;
      try {
        await pub.send(Buffer.from(`w${i}`), { publishingId: i });
      } catch {
        return;
      }
      if (i % 200n === 0n) await sleep(1);
    }
  })();
  await waitFor(() => maxConfirmed >= 5000n, 20000);
  await b1.kill();
  stop = true;
  await Promise.race([pump, sleep(1000)]);
  // The client of the killed broker would wait for a close answer forever, and a socket it
  // still holds keeps this process alive: destroy every socket it has.
  abandonStreamClient(c1);
  t.ok(maxConfirmed >= 5000n, `${maxConfirmed} confirmed before the kill`);

  const b2 = await startBroker({ logLevel: 'warning', stream: true, dataDir: b1.dataDir });
  const c2 = await rabbit.connect({ hostname: '127.0.0.1', port: b2.streamPort, username: 'guest', password: 'guest', vhost: '/' });
  // The client first (its close waits for the broker's answer, forever if the broker is gone),
  // bounded all the same, then the broker.
  t.teardown(async () => {
    await closeStreamClient(c2);
    await b2.stop();
  });
  const got: string[] = [];
  await c2.declareConsumer({ stream: 'k9', offset: rabbit.Offset.first() }, (m) => { got.push(m.content.toString()); });
  await waitFor(() => got.length >= Number(maxConfirmed), 10000);
  await sleep(200);
  t.ok(got.length >= Number(maxConfirmed), `${got.length} messages after the restart`);
  t.equal(got.findIndex((m, k) => m !== `w${k + 1}`), -1, 'in order, no gap, no duplicate');
  const pub2 = await c2.declarePublisher({ stream: 'k9', publisherRef: 'writer' });
  const seq = await pub2.getLastPublishingId();
  t.ok(seq >= maxConfirmed && seq === BigInt(got.length), `the publisher sequence (${seq}) covers every stored message`);
});

t.test('Stream protocol under the disk alarm: publishers are not read, readers keep going', async (t) => {
  const { RawStreamClient, entry } = await import('../helpers/stream-raw');
  const { FrameWriter } = await import('../../src/protocol/stream/frames');
  // a free-disk limit no disk meets: the alarm is on from the start
  const b = await startBroker({ logLevel: 'warning', stream: true, extraArgs: ['--disk-free-limit', String(1e15)] });
  t.teardown(() => b.stop());
  const r = await RawStreamClient.open(b.streamPort);
  t.teardown(() => r.close());
  t.equal((await r.request(0x0d, (w) => w.string('alarmed').i32(0))).body.readUInt16BE(4), 1);
  t.equal((await r.request(0x01, (w) => w.u8(0).string('').string('alarmed'))).body.readUInt16BE(4), 1);
  const id = Buffer.alloc(8, 0);
  id[7] = 1;
  r.send(new FrameWriter().begin(0x02).u8(0).i32(1).raw(id).raw(entry(Buffer.from('held'))).end());
  await t.rejects(r.next((f) => f.key === 0x03, 700), /no matching frame/, 'no confirm: the publish is not read while the alarm is on');
  const r2 = await RawStreamClient.open(b.streamPort);
  t.teardown(() => r2.close());
  const md = await r2.request(0x0f, (w) => w.i32(1).string('alarmed'));
  t.ok(md.body.length > 4, 'a connection without publishers is served');
});
