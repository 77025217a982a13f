// Protocol edges a stock client rarely exercises: transactions, tune negotiation and its
// enforcement, frame and command errors (501-505, 530, 540), heartbeats both ways,
// channel.flow, the channel close handshake and a client-initiated connection.close.
// Driven with a bare client on the project's codec (test/helpers/raw-amqp.ts), because amqplib
// cannot send most of these frames; every assertion is about what a client sees on the wire.
import t from 'tap';
import { startBroker } from '../helpers/broker';
import { RawConn } from '../helpers/raw-amqp';
import { channel, connect, sleep, uniq } from '../helpers/amqp';
import { encodeFrame, encodeMethodFrame, encodeContentHeaderFrame, encodeProperties } from '../../src/protocol';

t.test('protocol edges', async (t) => {
  const b = await startBroker();
  t.teardown(() => b.stop());
  const conns: RawConn[] = [];
  const open = async (opts?: Parameters<typeof RawConn.open>[1]) => {
    const c = await RawConn.open(b.port, opts);
    conns.push(c);
    return c;
  };
  t.teardown(() => { for (const c of conns) c.destroy(); });

  // ---- transactions ---------------------------------------------------------------------------

  t.test('tx.select: publishes take effect on commit, not on rollback', async (t) => {
    const c = await open();
    await c.openChannel(1);
    await c.openChannel(2);
    const q = uniq('tx.pub');
    await c.declareQueue(1, q, { exclusive: true });
    c.send(1, { name: 'tx.select' });
    await c.expect(1, 'tx.select-ok');
    for (let i = 0; i < 3; i++) c.publish(1, '', q, `c${i}`);
    t.equal((await c.declareQueue(2, q, { passive: true })).messageCount, 0, 'nothing visible before commit');
    c.send(1, { name: 'tx.commit' });
    await c.expect(1, 'tx.commit-ok');
    t.equal((await c.declareQueue(2, q, { passive: true })).messageCount, 3, 'commit: 3 in the queue');

    for (let i = 0; i < 2; i++) c.publish(1, '', q, `r${i}`);
    c.send(1, { name: 'tx.rollback' });
    await c.expect(1, 'tx.rollback-ok');
    t.equal((await c.declareQueue(2, q, { passive: true })).messageCount, 3, 'rollback: still 3');
    // The channel stays transactional: a later commit does not resurrect the rolled-back ones.
    c.send(1, { name: 'tx.commit' });
    await c.expect(1, 'tx.commit-ok');
    const bodies: string[] = [];
    for (;;) {
      const m = await c.get(2, q, true);
      if (!m) break;
      bodies.push(m.body.toString());
    }
    t.same(bodies, ['c0', 'c1', 'c2'], 'only the committed messages are ever delivered');
  });

  t.test('tx.select: acks take effect only on commit', async (t) => {
    const c = await open();
    await c.openChannel(1); // non-transactional helper channel
    const q = uniq('tx.ack');
    await c.declareQueue(1, q, { exclusive: true });
    const count = async () => (await c.declareQueue(1, q, { passive: true })).messageCount;

    // ack inside a transaction, channel closed without commit: the message comes back.
    c.publish(1, '', q, 'm1');
    await c.openChannel(3);
    c.send(3, { name: 'tx.select' });
    await c.expect(3, 'tx.select-ok');
    const g1 = await c.get(3, q, false);
    t.equal(g1?.body.toString(), 'm1');
    c.send(3, { name: 'basic.ack', deliveryTag: g1!.deliveryTag, multiple: false });
    t.equal(await count(), 0, 'delivered, unacked: not ready');
    c.send(3, { name: 'channel.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
    await c.expect(3, 'channel.close-ok');
    t.equal(await count(), 1, 'uncommitted ack had no effect: the message is back on close');

    // ack + rollback: still unacked (acking it again and committing succeeds; closing requeues
    // when not committed).
    await c.openChannel(3);
    c.send(3, { name: 'tx.select' });
    await c.expect(3, 'tx.select-ok');
    const g2 = await c.get(3, q, false);
    t.equal(g2?.body.toString(), 'm1');
    t.ok(g2?.redelivered, 'redelivered after the requeue');
    c.send(3, { name: 'basic.ack', deliveryTag: g2!.deliveryTag, multiple: false });
    c.send(3, { name: 'tx.rollback' });
    await c.expect(3, 'tx.rollback-ok');
    c.send(3, { name: 'channel.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
    await c.expect(3, 'channel.close-ok');
    t.equal(await count(), 1, 'rolled-back ack: the message was still unacked and is requeued on close');

    // ack + rollback + ack + commit: the tag was still valid after the rollback.
    await c.openChannel(3);
    c.send(3, { name: 'tx.select' });
    await c.expect(3, 'tx.select-ok');
    const g3 = await c.get(3, q, false);
    c.send(3, { name: 'basic.ack', deliveryTag: g3!.deliveryTag, multiple: false });
    c.send(3, { name: 'tx.rollback' });
    await c.expect(3, 'tx.rollback-ok');
    c.send(3, { name: 'basic.ack', deliveryTag: g3!.deliveryTag, multiple: false });
    c.send(3, { name: 'tx.commit' });
    await c.expect(3, 'tx.commit-ok');
    c.send(3, { name: 'channel.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
    await c.expect(3, 'channel.close-ok');
    t.equal(await count(), 0, 'committed ack: gone for good');
    t.notOk(c.closed, 'connection still open');
  });

  t.test('tx and confirm modes exclude each other; commit needs select', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.send(1, { name: 'tx.commit' });
    let cl = await c.channelClose(1);
    t.equal(cl.replyCode, 406, 'tx.commit without tx.select: 406');
    t.match(cl.replyText, /PRECONDITION_FAILED/);
    t.same([cl.classId, cl.methodId], [90, 20]);
    c.send(1, { name: 'channel.close-ok' });

    await c.openChannel(2);
    c.send(2, { name: 'tx.rollback' });
    cl = await c.channelClose(2);
    t.equal(cl.replyCode, 406, 'tx.rollback without tx.select: 406');
    c.send(2, { name: 'channel.close-ok' });

    await c.openChannel(3);
    c.send(3, { name: 'tx.select' });
    await c.expect(3, 'tx.select-ok');
    c.send(3, { name: 'confirm.select', nowait: false });
    cl = await c.channelClose(3);
    t.equal(cl.replyCode, 406, 'confirm.select on a tx channel: 406');
    t.same([cl.classId, cl.methodId], [85, 10]);
    c.send(3, { name: 'channel.close-ok' });

    await c.openChannel(4);
    c.send(4, { name: 'confirm.select', nowait: false });
    await c.expect(4, 'confirm.select-ok');
    c.send(4, { name: 'tx.select' });
    cl = await c.channelClose(4);
    t.equal(cl.replyCode, 406, 'tx.select on a confirm channel: 406');
    t.same([cl.classId, cl.methodId], [90, 10]);
    c.send(4, { name: 'channel.close-ok' });
    t.notOk(c.closed, 'soft errors: the connection stays open');
  });

  // ---- 540 NOT_IMPLEMENTED --------------------------------------------------------------------
  // 540 is a hard error in the spec (class="hard-error"), and RabbitMQ answers both cases with
  // connection.close 540 (rabbit_channel: protocol_error(not_implemented, "prefetch_size!=0 (~w)")
  // and "immediate=true"), so that is what a client observes: the connection, not just the channel.

  t.test('basic.qos prefetch_size != 0: 540 NOT_IMPLEMENTED', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.send(1, { name: 'basic.qos', prefetchSize: 1024, prefetchCount: 0, global: false });
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 540);
    t.match(cl.replyText, /NOT_IMPLEMENTED - prefetch_size!=0 \(1024\)/);
    t.same([cl.classId, cl.methodId], [60, 10], 'names basic.qos');
    c.send(0, { name: 'connection.close-ok' });
    await c.whenClosed;
  });

  t.test('basic.publish immediate=true: 540 NOT_IMPLEMENTED', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.publish(1, '', 'whatever', 'x', {}, { immediate: true });
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 540);
    t.match(cl.replyText, /NOT_IMPLEMENTED - immediate=true/);
    t.same([cl.classId, cl.methodId], [60, 40], 'names basic.publish');
    c.send(0, { name: 'connection.close-ok' });
    await c.whenClosed;
  });

  // ---- tune negotiation and enforcement ---------------------------------------------------------

  t.test('connection.tune proposes channel_max 2047, frame_max 131072, heartbeat 60', async (t) => {
    const c = await open({ stopAtTune: true });
    t.same(c.tune, { channelMax: 2047, frameMax: 131072, heartbeat: 60 });
    c.destroy();
  });

  t.test('tune-ok frame_max below 4096 or above the server\'s: 530', async (t) => {
    for (const frameMax of [4095, 512, 131073, 1 << 20]) {
      const c = await open({ open: false, tuneOk: (tn) => ({ channelMax: tn.channelMax, frameMax, heartbeat: 0 }) });
      const cl = await c.connectionClose();
      t.equal(cl.replyCode, 530, `frame_max ${frameMax}: 530`);
      t.match(cl.replyText, /NOT_ALLOWED - negotiated frame_max/);
      t.same([cl.classId, cl.methodId], [10, 30], 'names connection.tune, as RabbitMQ does');
      c.destroy();
    }
    // The bounds themselves are accepted.
    for (const frameMax of [4096, 131072]) {
      const c = await open({ tuneOk: (tn) => ({ channelMax: tn.channelMax, frameMax, heartbeat: 0 }) });
      await c.openChannel(1);
      t.pass(`frame_max ${frameMax} accepted`);
      c.destroy();
    }
  });

  t.test('tune-ok channel_max above the server\'s: 530', async (t) => {
    const c = await open({ open: false, tuneOk: () => ({ channelMax: 4000, frameMax: 131072, heartbeat: 0 }) });
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 530);
    t.match(cl.replyText, /negotiated channel_max = 4000/);
    c.destroy();
  });

  // RabbitMQ refuses a channel beyond the negotiated channel_max with connection.close 530
  // NOT_ALLOWED (rabbit_reader:create_channel, "number of channels opened (N) has reached the
  // negotiated channel_max (M)"). Warren checks the channel number against channel_max (the spec's
  // channel-max bounds the channel number) and answers with the same code, 530.
  t.test('opening a channel above the negotiated channel_max: 530', async (t) => {
    let c = await open();
    await c.openChannel(2047);
    t.pass('channel 2047 (= channel_max) opens');
    c.send(2048, { name: 'channel.open' });
    let cl = await c.connectionClose();
    t.equal(cl.replyCode, 530, 'channel 2048: connection.close 530');
    t.match(cl.replyText, /NOT_ALLOWED - .*channel_max \(2047\)/);
    t.same([cl.classId, cl.methodId], [20, 10], 'names channel.open');
    c.destroy();

    c = await open({ tuneOk: () => ({ channelMax: 5, frameMax: 131072, heartbeat: 0 }) });
    await c.openChannel(5);
    c.send(6, { name: 'channel.open' });
    cl = await c.connectionClose();
    t.equal(cl.replyCode, 530, 'channel_max 5 negotiated, channel 6: 530');
    c.destroy();
  });

  t.test('a frame larger than the negotiated frame_max: 501', async (t) => {
    // frame_max 8192 negotiated (well under the server's 131072): a 10000-byte body frame breaks it.
    const c = await open({ tuneOk: () => ({ channelMax: 2047, frameMax: 8192, heartbeat: 0 }) });
    await c.openChannel(1);
    const body = Buffer.alloc(10000, 0x61);
    c.write(Buffer.concat([
      encodeMethodFrame(1, { name: 'basic.publish', exchange: '', routingKey: 'nowhere', mandatory: false, immediate: false }),
      encodeContentHeaderFrame(1, 60, body.length, encodeProperties({})),
      encodeFrame(3, 1, body),
    ]));
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 501);
    t.match(cl.replyText, /FRAME_ERROR - frame too large/);
    c.destroy();
  });

  t.test('a method on a channel that is not open: 504', async (t) => {
    const c = await open();
    c.send(7, { name: 'queue.declare', queue: 'x', passive: false, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: {} });
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 504);
    t.match(cl.replyText, /CHANNEL_ERROR/);
    c.destroy();
  });

  t.test('a content header without a preceding publish: 505', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.write(encodeContentHeaderFrame(1, 60, 3, encodeProperties({})));
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 505);
    t.match(cl.replyText, /UNEXPECTED_FRAME/);
    c.destroy();
  });

  t.test('a method where a body frame is expected: 505', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.write(Buffer.concat([
      encodeMethodFrame(1, { name: 'basic.publish', exchange: '', routingKey: 'nowhere', mandatory: false, immediate: false }),
      encodeContentHeaderFrame(1, 60, 10, encodeProperties({})),
      encodeMethodFrame(1, { name: 'basic.qos', prefetchSize: 0, prefetchCount: 1, global: false }),
    ]));
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 505);
    t.match(cl.replyText, /UNEXPECTED_FRAME/);
    c.destroy();
  });

  t.test('a body frame where a content header is expected: 505', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.write(Buffer.concat([
      encodeMethodFrame(1, { name: 'basic.publish', exchange: '', routingKey: 'nowhere', mandatory: false, immediate: false }),
      encodeFrame(3, 1, Buffer.from('abc')),
    ]));
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 505);
    c.destroy();
  });

  // The spec (4.2.7) requires 501 for an invalid heartbeat frame; RabbitMQ's reader answers a
  // heartbeat on a non-zero channel with 505 UNEXPECTED_FRAME instead. Warren follows the spec.
  t.test('a heartbeat frame on a channel other than 0: 501', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.heartbeat(1);
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 501);
    t.match(cl.replyText, /FRAME_ERROR/);
    c.destroy();
  });

  // ---- heartbeats -----------------------------------------------------------------------------

  t.test('heartbeat=1: the server sends heartbeats when otherwise idle', async (t) => {
    const c = await open({ tuneOk: (tn) => ({ channelMax: tn.channelMax, frameMax: tn.frameMax, heartbeat: 1 }) });
    const start = Date.now();
    // Keep our side alive so that only the server's heartbeats are measured.
    const keep = setInterval(() => c.heartbeat(), 400);
    await sleep(3200);
    clearInterval(keep);
    const hbs = c.frames.filter((f) => f.type === 8 && f.at >= start);
    t.ok(hbs.length >= 2, `received ${hbs.length} heartbeat frames in 3.2 s`);
    t.ok(hbs.every((f) => f.channel === 0), 'on channel 0');
    t.notOk(c.closed, 'a client that sends heartbeats stays connected');
    c.destroy();
  });

  t.test('heartbeat=1: a client that sends nothing is disconnected', async (t) => {
    const c = await open({ tuneOk: (tn) => ({ channelMax: tn.channelMax, frameMax: tn.frameMax, heartbeat: 1 }) });
    const start = Date.now();
    await Promise.race([c.whenClosed, sleep(6000)]);
    t.ok(c.closed, 'the server closed the socket');
    const after = c.closedAt - start;
    t.ok(after >= 1500 && after <= 4500, `closed after ${after} ms (two missed heartbeats = 2 s, checked each second)`);
    t.ok(b.logs.some((l) => /missed heartbeats from client, timeout: 1s/.test(l)), 'the broker says why');
  });

  // ---- channel.flow ---------------------------------------------------------------------------

  // RabbitMQ 3.x answers channel.flow active=false with 540 NOT_IMPLEMENTED (a connection error)
  // and active=true with flow-ok; clients' own test suites expect exactly this.
  t.test('channel.flow active=true is acknowledged; active=false is 540 NOT_IMPLEMENTED, as in RabbitMQ', async (t) => {
    const c = await open();
    await c.openChannel(1);
    c.send(1, { name: 'channel.flow', active: true });
    t.same(await c.expect(1, 'channel.flow-ok'), { name: 'channel.flow-ok', active: true }, 'flow-ok active=true');
    c.send(1, { name: 'channel.flow', active: false });
    const close = await c.connectionClose();
    t.equal(close.replyCode, 540);
    t.equal(close.replyText, 'NOT_IMPLEMENTED - active=false');
    t.same([close.classId, close.methodId], [20, 20], 'names channel.flow');
  });

  // ---- channel close handshake ----------------------------------------------------------------

  t.test('after a channel error the server ignores the channel until close-ok; the number can be reused', async (t) => {
    const c = await open();
    await c.openChannel(1);
    await c.openChannel(2);
    const q = uniq('ignored');
    c.send(1, { name: 'queue.declare', queue: 'no-such-queue', passive: true, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: {} });
    const cl = await c.channelClose(1);
    t.equal(cl.replyCode, 404);
    t.same([cl.classId, cl.methodId], [50, 10]);
    // Frames on channel 1 before our close-ok: all ignored, none of them an error.
    c.send(1, { name: 'queue.declare', queue: q, passive: false, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: {} });
    c.publish(1, '', q, 'ignored');
    c.write(encodeContentHeaderFrame(1, 60, 1, encodeProperties({})));  // would be 505 on an open channel
    c.send(1, { name: 'channel.open' });
    const answered = await c.collect((f) => f.channel === 1 || f.channel === 0, 400);
    t.same(answered.map((f) => f.method?.name ?? f.type), [], 'no answer on channel 1 (nor a connection error)');
    // The queue was never declared: checking it from channel 2 is a 404.
    c.send(2, { name: 'queue.declare', queue: q, passive: true, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: {} });
    t.equal((await c.channelClose(2)).replyCode, 404, 'the ignored declare had no effect');
    c.send(2, { name: 'channel.close-ok' });
    c.send(1, { name: 'channel.close-ok' });
    await c.openChannel(1);
    t.pass('channel 1 reopened after close-ok');
    const d = await c.declareQueue(1, q, { exclusive: true });
    t.equal(d.queue, q, 'and works');
    t.notOk(c.closed);
  });

  t.test('client channel.close gets close-ok and the channel number can be reused', async (t) => {
    const c = await open();
    await c.openChannel(9);
    c.send(9, { name: 'channel.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
    await c.expect(9, 'channel.close-ok');
    await c.openChannel(9);
    t.pass('reopened');
    c.send(9, { name: 'channel.open' });
    const cl = await c.connectionClose();
    t.equal(cl.replyCode, 504, 'a second channel.open on an open channel is a channel error (504)');
    c.destroy();
  });

  // ---- connection close ---------------------------------------------------------------------------

  t.test('connection.close from the client: close-ok and one info line', async (t) => {
    const c = await open();
    await c.openChannel(1);
    const port = c.socket.localPort;
    c.send(0, { name: 'connection.close', replyCode: 200, replyText: 'Goodbye', classId: 0, methodId: 0 });
    await c.expect(0, 'connection.close-ok');
    await Promise.race([c.whenClosed, sleep(3000)]);
    t.ok(c.closed, 'the server closes the socket after close-ok');
    await sleep(100);
    const mine = b.logs.filter((l) => l.includes(`127.0.0.1:${port} ->`));
    const closing = mine.filter((l) => /closing AMQP connection/.test(l));
    t.equal(closing.length, 1, 'one line about the close');
    t.match(closing[0], /\[info\] closing AMQP connection .*client closed, 200 Goodbye/);
    t.notOk(mine.some((l) => /went away|\[warning\]|\[error\]/.test(l)), 'and nothing else alarming about it');
  });

  // ---- isolation ----------------------------------------------------------------------------------
  // (errors.test.ts covers garbage before and during the handshake.) Here the offender is an open
  // connection with a consumer on a queue another connection uses.

  t.test('garbage on an open connection only closes that connection', async (t) => {
    const good = await connect(b.url);
    t.teardown(() => good.close().catch(() => undefined));
    const ch = await channel(good);
    const q = uniq('shared');
    await ch.assertQueue(q, { autoDelete: false });
    t.teardown(() => ch.deleteQueue(q).catch(() => undefined));
    const bad = await open();
    await bad.openChannel(1);
    bad.send(1, { name: 'basic.qos', prefetchSize: 0, prefetchCount: 1, global: false });
    await bad.expect(1, 'basic.qos-ok');
    bad.send(1, { name: 'basic.consume', queue: q, consumerTag: 'bad', noLocal: false, noAck: false, exclusive: false, noWait: false, arguments: {} });
    await bad.expect(1, 'basic.consume-ok');
    ch.sendToQueue(q, Buffer.from('held-by-bad'));
    await bad.expect(1, 'basic.deliver');
    bad.write(Buffer.from([1, 0, 1, 0, 0, 0, 4, 0, 60, 0, 80, 0x42])); // bad frame-end octet
    const cl = await bad.connectionClose();
    t.equal(cl.replyCode, 501);
    await Promise.race([bad.whenClosed, sleep(3000)]);
    // The unacked message comes back for the healthy connection, which keeps working.
    const got: string[] = [];
    await ch.consume(q, (m) => { if (m) { got.push(m.content.toString()); ch.ack(m); } });
    ch.sendToQueue(q, Buffer.from('after'));
    const end = Date.now() + 3000;
    while (got.length < 2 && Date.now() < end) await sleep(10);
    t.same(got.sort(), ['after', 'held-by-bad']);
  });
});
