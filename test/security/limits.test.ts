// Limits with RabbitMQ's defaults and errors, each followed by a healthy client: handshake
// timeout, frame_max before and after tune, maximum message size, node connection limit,
// heartbeat timeout, nested header tables, and a client that does not read its replies.
// (protocol-edges.test.ts covers tune-ok bounds and channel_max.)
import t from 'tap';
import * as fs from 'node:fs';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { channel, channelErrorCode, connect, getOne, sleep, waitFor } from '../helpers/amqp';
import { RawConn } from '../helpers/raw-amqp';
import { PROTOCOL_HEADER, encodeFrame, encodeMethodFrame, encodeContentHeaderFrame, encodeProperties } from '../../src/protocol';

async function healthy(t: { equal: (a: unknown, b: unknown, m?: string) => void }, b: RunningBroker): Promise<void> {
  const c = await connect(b.url);
  const ch = await channel(c);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('still fine'));
  const m = await getOne(ch, queue, { noAck: true });
  t.equal(m?.content.toString(), 'still fine', 'a healthy client publishes and gets');
  await c.close();
}

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

t.test('limits', async (t) => {
  const b = await startBroker({ logLevel: 'warning', extraArgs: ['--handshake-timeout', '1500', '--max-message-size', '100000'] });
  t.teardown(() => b.stop());

  t.test('handshake timeout: silent clients and clients stalled mid-handshake are closed', async (t) => {
    const silent = await RawConn.connect(b.port);
    const stalled = await RawConn.open(b.port, { stopAtTune: true });
    const t0 = Date.now();
    await Promise.all([silent.whenClosed, stalled.whenClosed]);
    const ms = Date.now() - t0;
    t.ok(ms < 3000, `both closed after ${ms} ms (timeout 1.5 s)`);
    t.ok(b.logs.some((l) => l.includes('handshake not completed within 1.5 s')), 'logged');
    const open = await RawConn.open(b.port);
    await sleep(1700);
    t.notOk(open.closed, 'a connection that completed the handshake is not affected');
    open.destroy();
    await healthy(t, b);
  });

  t.test('before tune, frame_max is 4096: nothing larger is buffered', async (t) => {
    const c = await RawConn.connect(b.port);
    c.write(PROTOCOL_HEADER);
    await c.expect(0, 'connection.start');
    const big = encodeFrame(1, 0, Buffer.alloc(5000));
    c.write(big.subarray(0, 100));
    const close = await c.connectionClose();
    t.equal(close.replyCode, 501);
    t.match(close.replyText, /frame_max is 4096/);
    c.destroy();
    // Many connections that never log in cost little and go away.
    const before = rss(b.proc.pid!);
    const conns = await Promise.all(Array.from({ length: 1000 }, async () => {
      const x = await RawConn.connect(b.port);
      x.write(PROTOCOL_HEADER);
      x.write(encodeFrame(1, 0, Buffer.alloc(4000)).subarray(0, 3000));
      return x;
    }));
    await sleep(300);
    const grew = rss(b.proc.pid!) - before;
    t.ok(grew < 40 * 1024 * 1024, `1000 half-open logins: RSS grew ${(grew / 1048576).toFixed(1)} MB`);
    await Promise.all(conns.map((x) => x.whenClosed));
    t.pass('all closed by the handshake timeout');
    await healthy(t, b);
  });

  t.test('after tune, a frame larger than the negotiated frame_max: 501', async (t) => {
    const c = await RawConn.open(b.port, { tuneOk: (tu) => ({ ...tu, frameMax: 4096, heartbeat: 0 }) });
    await c.openChannel(1);
    c.write(encodeFrame(3, 1, Buffer.alloc(5000)));
    t.match(await c.connectionClose(), { replyCode: 501 });
    c.destroy();
    await healthy(t, b);
  });

  t.test('maximum message size: 406 with the size, before the body is read', async (t) => {
    const c = await connect(b.url);
    const r = await channelErrorCode(c, async (ch) => ch.sendToQueue('nowhere', Buffer.alloc(100001)));
    t.equal(r.code, 406);
    t.ok(r.message.includes('"PRECONDITION_FAILED - message size 100001 is larger than configured max size 100000"'), r.message);
    t.equal((await channelErrorCode(c, async (ch) => ch.sendToQueue('nowhere', Buffer.alloc(100000)))).code, null, 'exactly the limit is fine');
    await c.close();
    // A header announcing 200 MB against the default limit, with no body sent at all.
    const d = await startBroker({ logLevel: 'warning' });
    const raw = await RawConn.open(d.port);
    await raw.openChannel(1);
    raw.write(Buffer.concat([
      encodeMethodFrame(1, { name: 'basic.publish', exchange: '', routingKey: 'q', mandatory: false, immediate: false }),
      encodeContentHeaderFrame(1, 60, 200 * 1024 * 1024, encodeProperties({})),
    ]));
    t.same(await raw.channelClose(1), { replyCode: 406, replyText: 'PRECONDITION_FAILED - message size 209715200 is larger than max size 134217728', classId: 60, methodId: 40 });
    raw.destroy();
    await healthy(t, d);
    await d.stop();
  });

  t.test('node connection limit: 530 at connection.open', async (t) => {
    const d = await startBroker({ logLevel: 'warning', extraArgs: ['--max-connections', '2'] });
    const c1 = await RawConn.open(d.port);
    const c2 = await RawConn.open(d.port);
    const c3 = await RawConn.open(d.port, { open: false });
    c3.send(0, { name: 'connection.open', virtualHost: '/' });
    t.same(await c3.connectionClose(), { replyCode: 530, replyText: 'NOT_ALLOWED - connection refused: node connection limit (2) is reached', classId: 10, methodId: 40 });
    c3.destroy();
    c2.destroy();
    await c2.whenClosed;
    await sleep(50);
    await healthy(t, d);
    c1.destroy();
    await d.stop();
  });

  t.test('heartbeat timeout: a client that goes silent is disconnected', async (t) => {
    const c = await RawConn.open(b.port, { tuneOk: (tu) => ({ ...tu, heartbeat: 1 }) });
    const t0 = Date.now();
    await c.whenClosed;
    t.ok(Date.now() - t0 < 4000, `disconnected after ${Date.now() - t0} ms (heartbeat 1 s)`);
    t.ok(b.logs.some((l) => l.includes('missed heartbeats from client, timeout: 1s')), 'logged as RabbitMQ does');
    await healthy(t, b);
  });

  t.test('header tables nested too deep: a clear error for that connection only', async (t) => {
    const c = await RawConn.open(b.port);
    await c.openChannel(1);
    let h: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < 100; i++) h = { n: h };
    // Routed through a headers exchange, so the broker has to read the headers.
    c.publish(1, 'amq.headers', '', 'deep', { headers: h as never });
    const close = await c.connectionClose();
    t.equal(close.replyCode, 502, `502 SYNTAX_ERROR: ${close.replyText}`);
    t.match(close.replyText, /nested deeper than 64 levels/);
    c.destroy();
    await healthy(t, b);
  });

  t.test('a client that never reads its replies is not read from either', async (t) => {
    const setup = await connect(b.url);
    const sch = await channel(setup);
    await sch.assertQueue('big1', { durable: false });
    sch.sendToQueue('big1', Buffer.alloc(60000, 1));
    await sleep(100);
    const c = await RawConn.open(b.port);
    await c.openChannel(1);
    c.socket.pause();
    const before = rss(b.proc.pid!);
    // 2000 basic.get + nack(requeue): 120 MB of replies if the broker buffered them all.
    const burst: Buffer[] = [];
    for (let i = 1; i <= 2000; i++) {
      burst.push(encodeMethodFrame(1, { name: 'basic.get', queue: 'big1', noAck: false }));
      burst.push(encodeMethodFrame(1, { name: 'basic.nack', deliveryTag: i, multiple: false, requeue: true }));
    }
    c.socket.write(Buffer.concat(burst));
    await sleep(1500);
    const grew = rss(b.proc.pid!) - before;
    t.ok(grew < 50 * 1024 * 1024, `RSS grew ${(grew / 1048576).toFixed(1)} MB while the client did not read`);
    await healthy(t, b);
    c.socket.resume();
    t.ok(await waitFor(() => c.frames.filter((f) => f.method?.name === 'basic.get-ok').length === 2000, 20000), 'once it reads, all 2000 replies come');
    c.destroy();
    await setup.close();
  });
});

