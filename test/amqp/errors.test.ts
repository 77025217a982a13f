import t from 'tap';
import * as net from 'node:net';
import { startBroker } from '../helpers/broker';
import { channel, channelErrorCode, connect, drain, uniq } from '../helpers/amqp';

function rawExchange(port: number, send: Buffer[], waitMs = 1500): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('connect', () => { for (const b of send) s.write(b); });
    const done = () => { s.destroy(); resolve(Buffer.concat(chunks)); };
    s.on('close', done);
    setTimeout(done, waitMs);
  });
}

t.test('AMQP errors as RabbitMQ gives them', async (t) => {
  const b = await startBroker();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('404 for a missing queue or exchange', async (t) => {
    let r = await channelErrorCode(c, (ch) => ch.checkQueue('does-not-exist'));
    t.equal(r.code, 404);
    t.match(r.message, /NOT_FOUND - no queue 'does-not-exist' in vhost '\/'/);
    r = await channelErrorCode(c, (ch) => ch.checkExchange('nope-x'));
    t.equal(r.code, 404);
    t.match(r.message, /no exchange 'nope-x'/);
    r = await channelErrorCode(c, async (ch) => { ch.publish('missing-exchange', 'k', Buffer.from('x')); });
    t.equal(r.code, 404, 'publish to a missing exchange closes the channel');
    r = await channelErrorCode(c, (ch) => ch.bindQueue('no-such-queue', 'amq.direct', 'k'));
    t.equal(r.code, 404);
  });

  t.test('406 for redeclare with other properties and unknown delivery tags', async (t) => {
    const ch = await channel(c);
    const q = uniq('q.equiv');
    await ch.assertQueue(q, { durable: false });
    let r = await channelErrorCode(c, (ch2) => ch2.assertQueue(q, { durable: true }));
    t.equal(r.code, 406);
    t.match(r.message, /inequivalent arg 'durable'/);
    r = await channelErrorCode(c, (ch2) => ch2.assertQueue(q, { durable: false, arguments: { 'x-message-ttl': 100 } }));
    t.equal(r.code, 406);
    t.match(r.message, /inequivalent arg 'x-message-ttl'/);
    const x = uniq('x.equiv');
    await ch.assertExchange(x, 'direct', { autoDelete: true });
    r = await channelErrorCode(c, (ch2) => ch2.assertExchange(x, 'fanout', { autoDelete: true }));
    t.equal(r.code, 406);
    t.match(r.message, /inequivalent arg 'type'/);
    r = await channelErrorCode(c, async (ch2) => { ch2.ack({ fields: { deliveryTag: 999 } } as never); });
    t.equal(r.code, 406);
    t.match(r.message, /unknown delivery tag 999/);
    await ch.deleteQueue(q);
    await ch.close();
  });

  t.test('405 for another connection\'s exclusive queue', async (t) => {
    const ch = await channel(c);
    const q = uniq('q.excl');
    await ch.assertQueue(q, { exclusive: true });
    const c2 = await connect(b.url);
    const r = await channelErrorCode(c2, (ch2) => ch2.consume(q, () => undefined));
    t.equal(r.code, 405);
    t.match(r.message, /RESOURCE_LOCKED/);
    const r2 = await channelErrorCode(c2, (ch2) => ch2.assertQueue(q, { exclusive: true }));
    t.equal(r2.code, 405);
    await c2.close();
    await ch.close();
  });

  t.test('exclusive queues vanish with their connection', async (t) => {
    const c2 = await connect(b.url);
    const ch2 = await channel(c2);
    const q = uniq('q.gone');
    await ch2.assertQueue(q, { exclusive: true });
    await c2.close();
    const r = await channelErrorCode(c, (ch) => ch.checkQueue(q));
    t.equal(r.code, 404);
  });

  t.test('403 for reserved amq.* names and the default exchange', async (t) => {
    let r = await channelErrorCode(c, (ch) => ch.assertQueue('amq.mine'));
    t.equal(r.code, 403);
    t.match(r.message, /reserved prefix 'amq\.\*'/);
    r = await channelErrorCode(c, (ch) => ch.assertExchange('amq.custom', 'direct'));
    t.equal(r.code, 403);
    r = await channelErrorCode(c, (ch) => ch.bindQueue('whatever', '', 'k'));
    t.ok(r.code === 403 || r.code === 404, `binding to the default exchange refused (${r.code})`);
  });

  t.test('if-unused and if-empty', async (t) => {
    const ch = await channel(c);
    const q = uniq('q.ifs');
    await ch.assertQueue(q);
    ch.sendToQueue(q, Buffer.from('x'));
    await drain(ch, q, 0, 50);
    let r = await channelErrorCode(c, (ch2) => ch2.deleteQueue(q, { ifEmpty: true }));
    t.equal(r.code, 406);
    await ch.consume(q, () => undefined);
    r = await channelErrorCode(c, (ch2) => ch2.deleteQueue(q, { ifUnused: true }));
    t.equal(r.code, 406);
    const purge = await (await channel(c)).purgeQueue(q);
    t.ok(purge.messageCount <= 1);
    const del = await (await channel(c)).deleteQueue(q);
    t.equal(del.messageCount, 0);
  });

  t.test('a bad channel error leaves the connection and other channels working', async (t) => {
    const good = await channel(c);
    const q = (await good.assertQueue('', { exclusive: true })).queue;
    await channelErrorCode(c, (ch) => ch.checkQueue('nope'));
    good.sendToQueue(q, Buffer.from('still-here'));
    const got = await drain(good, q, 1);
    t.equal(got[0]?.content.toString(), 'still-here');
    await good.close();
  });

  t.test('protocol header mismatch gets the supported header back', async (t) => {
    const reply = await rawExchange(b.port, [Buffer.from('AMQP\x00\x00\x08\x00', 'binary')]);
    t.same([...reply.subarray(0, 8)], [...Buffer.from('AMQP\x00\x00\x09\x01', 'binary')]);
    const http = await rawExchange(b.port, [Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
    t.equal(http.subarray(0, 4).toString(), 'AMQP');
  });

  t.test('malformed frames close that connection with a reason, not the broker', async (t) => {
    // Protocol header, then a method frame with a bad frame-end octet.
    const bad = Buffer.from([1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 11, 0x00]);
    const reply = await rawExchange(b.port, [Buffer.from('AMQP\x00\x00\x09\x01', 'binary'), bad]);
    // connection.start arrives first; then connection.close (class 10, method 50) with 501.
    const text = reply.toString('latin1');
    t.match(text, /FRAME_ERROR|frame/i, 'close reason names the frame error');
    const idx = findMethod(reply, 10, 50);
    t.ok(idx >= 0, 'connection.close sent');
    if (idx >= 0) t.equal(reply.readUInt16BE(idx + 4), 501);
    // Garbage of a huge declared size.
    const huge = Buffer.from([1, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
    const reply2 = await rawExchange(b.port, [Buffer.from('AMQP\x00\x00\x09\x01', 'binary'), huge]);
    const i2 = findMethod(reply2, 10, 50);
    t.ok(i2 >= 0, 'oversized frame answered with connection.close');
    if (i2 >= 0) t.equal(reply2.readUInt16BE(i2 + 4), 501);
    // The broker still serves the first connection.
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from('alive'));
    t.equal((await drain(ch, q, 1))[0]?.content.toString(), 'alive');
    await ch.close();
  });

  t.test('bad credentials are refused with 403', async (t) => {
    const err = await connect(`amqp://guest:wrong@127.0.0.1:${b.port}`).then(() => null, (e) => e as Error);
    t.ok(err, 'connection refused');
    t.match(String(err?.message), /ACCESS_REFUSED|403/);
  });

  t.test('unknown vhost gets 530', async (t) => {
    const err = await connect(`amqp://guest:guest@127.0.0.1:${b.port}/nope`).then(() => null, (e) => e as Error);
    t.ok(err);
    t.match(String(err?.message), /530|NOT_ALLOWED|ConnectionClose/);
  });
});

// Returns the offset of the first method frame payload for class/method, -1 when absent.
function findMethod(buf: Buffer, classId: number, methodId: number): number {
  let p = 0;
  while (p + 7 <= buf.length) {
    if (buf.subarray(p, p + 4).toString('latin1') === 'AMQP') { p += 8; continue; }
    const type = buf[p];
    const size = buf.readUInt32BE(p + 3);
    if (p + 7 + size + 1 > buf.length) break;
    if (type === 1 && buf.readUInt16BE(p + 7) === classId && buf.readUInt16BE(p + 9) === methodId) return p + 7;
    p += 8 + size;
  }
  return -1;
}
