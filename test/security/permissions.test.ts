// The permission matrix: every operation RabbitMQ checks, allowed and refused, through amqplib,
// with the exact reply codes and texts (rabbit_channel / rabbit_access_control 3.10).
import t, { type Test } from 'tap';
import type * as amqplib from 'amqplib';
import { startBroker } from '../helpers/broker';
import { channel, channelErrorCode, connect, sleep } from '../helpers/amqp';
import { api } from '../helpers/http';
import { RawConn } from '../helpers/raw-amqp';

type Op = (ch: amqplib.Channel) => Promise<unknown>;

t.test('permission matrix', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const V = 'perm';
  const setup = [
    await api(b, 'PUT', `/api/vhosts/${V}`, {}),
    await api(b, 'PUT', '/api/users/alice', { password: 'alice-pw', tags: '' }),
    await api(b, 'PUT', `/api/permissions/${V}/guest`, { configure: '.*', write: '.*', read: '.*' }),
    await api(b, 'PUT', `/api/permissions/${V}/alice`, {
      configure: '^alice-', write: '^(amq\\.default|amq\\.topic|alice-.*)$', read: '^(amq\\.topic|alice-.*)$',
    }),
    await api(b, 'PUT', `/api/topic-permissions/${V}/alice`, { exchange: 'amq.topic', write: '^alice\\.', read: '^alice\\.' }),
  ];
  t.same(setup.map((r) => r.status), [201, 201, 201, 201, 201], 'vhost, user and permissions created');

  const admin = await connect(`amqp://guest:guest@127.0.0.1:${b.port}/${V}`);
  const ach = await channel(admin);
  await ach.assertExchange('bob-x', 'direct', { durable: false });
  await ach.assertExchange('bob-x2', 'direct', { durable: false });
  await ach.assertQueue('bob-q', { durable: false });
  const alice = await connect(`amqp://alice:alice-pw@127.0.0.1:${b.port}/${V}`);
  t.teardown(async () => { await alice.close().catch(() => undefined); await admin.close().catch(() => undefined); });

  const refused = (kind: string, type: string, name: string) =>
    `ACCESS_REFUSED - ${kind} access to ${type} '${name}' in vhost '${V}' refused for user 'alice'`;

  async function allowed(t: Test, what: string, fn: Op): Promise<void> {
    const r = await channelErrorCode(alice, fn);
    t.same(r, { code: null, message: '' }, `${what}: allowed`);
  }
  async function denied(t: Test, what: string, fn: Op, text: string, code = 403): Promise<void> {
    const r = await channelErrorCode(alice, fn);
    t.equal(r.code, code, `${what}: refused with ${code}`);
    t.ok(r.message.includes(`"${text}"`), `${what}: reply text is ${JSON.stringify(text)} (got ${r.message})`);
  }

  t.test('exchange.declare: configure on the exchange', async (t) => {
    await allowed(t, 'declare alice-x', (ch) => ch.assertExchange('alice-x', 'direct', { durable: false }));
    await allowed(t, 'declare alice-x2', (ch) => ch.assertExchange('alice-x2', 'fanout', { durable: false }));
    await denied(t, 'declare bob-new', (ch) => ch.assertExchange('bob-new', 'direct', { durable: false }), refused('configure', 'exchange', 'bob-new'));
    await denied(t, 'redeclare bob-x', (ch) => ch.assertExchange('bob-x', 'direct', { durable: false }), refused('configure', 'exchange', 'bob-x'));
    await allowed(t, 'passive declare of bob-x needs no permission', (ch) => ch.checkExchange('bob-x'));
  });

  t.test('exchange.declare with alternate-exchange: write on the AE', async (t) => {
    await allowed(t, 'AE alice-x', (ch) => ch.assertExchange('alice-ae1', 'direct', { durable: false, alternateExchange: 'alice-x' }));
    await denied(t, 'AE bob-x', (ch) => ch.assertExchange('alice-ae2', 'direct', { durable: false, alternateExchange: 'bob-x' }),
      refused('write', 'exchange', 'bob-x'));
  });

  t.test('queue.declare: configure on the queue, write on its dead-letter exchange', async (t) => {
    await allowed(t, 'declare alice-q', (ch) => ch.assertQueue('alice-q', { durable: false }));
    await denied(t, 'declare bob-new-q', (ch) => ch.assertQueue('bob-new-q', { durable: false }), refused('configure', 'queue', 'bob-new-q'));
    await denied(t, 'redeclare bob-q', (ch) => ch.assertQueue('bob-q', { durable: false }), refused('configure', 'queue', 'bob-q'));
    await allowed(t, 'passive declare of bob-q needs no permission', (ch) => ch.checkQueue('bob-q'));
    const r = await channelErrorCode(alice, (ch) => ch.assertQueue('', { exclusive: true }));
    t.equal(r.code, 403, 'server-named queue: the generated name is checked');
    t.match(r.message, /"ACCESS_REFUSED - configure access to queue 'amq\.gen-[A-Za-z0-9_-]{22}' in vhost 'perm' refused for user 'alice'"/);
    await allowed(t, 'DLX alice-x', (ch) => ch.assertQueue('alice-dl1', { durable: false, deadLetterExchange: 'alice-x' }));
    await allowed(t, 'DLX "" (amq.default)', (ch) => ch.assertQueue('alice-dl2', { durable: false, deadLetterExchange: '' }));
    await denied(t, 'DLX bob-x', (ch) => ch.assertQueue('alice-dl3', { durable: false, deadLetterExchange: 'bob-x' }), refused('write', 'exchange', 'bob-x'));
  });

  t.test('queue.bind / queue.unbind: write on the queue, read on the exchange', async (t) => {
    await allowed(t, 'bind alice-q to alice-x', (ch) => ch.bindQueue('alice-q', 'alice-x', 'k'));
    await denied(t, 'bind alice-q to bob-x', (ch) => ch.bindQueue('alice-q', 'bob-x', 'k'), refused('read', 'exchange', 'bob-x'));
    await denied(t, 'bind bob-q to alice-x', (ch) => ch.bindQueue('bob-q', 'alice-x', 'k'), refused('write', 'queue', 'bob-q'));
    await denied(t, 'unbind bob-q from alice-x', (ch) => ch.unbindQueue('bob-q', 'alice-x', 'k'), refused('write', 'queue', 'bob-q'));
    await denied(t, 'unbind alice-q from bob-x', (ch) => ch.unbindQueue('alice-q', 'bob-x', 'k'), refused('read', 'exchange', 'bob-x'));
    await allowed(t, 'unbind alice-q from alice-x', (ch) => ch.unbindQueue('alice-q', 'alice-x', 'k'));
  });

  t.test('exchange.bind / exchange.unbind: write on the destination, read on the source', async (t) => {
    await allowed(t, 'bind alice-x2 <- alice-x', (ch) => ch.bindExchange('alice-x2', 'alice-x', 'k'));
    await denied(t, 'bind bob-x2 <- alice-x', (ch) => ch.bindExchange('bob-x2', 'alice-x', 'k'), refused('write', 'exchange', 'bob-x2'));
    await denied(t, 'bind alice-x2 <- bob-x', (ch) => ch.bindExchange('alice-x2', 'bob-x', 'k'), refused('read', 'exchange', 'bob-x'));
    await denied(t, 'unbind bob-x2 <- alice-x', (ch) => ch.unbindExchange('bob-x2', 'alice-x', 'k'), refused('write', 'exchange', 'bob-x2'));
    await allowed(t, 'unbind alice-x2 <- alice-x', (ch) => ch.unbindExchange('alice-x2', 'alice-x', 'k'));
  });

  t.test('basic.publish: write on the exchange, the default exchange as amq.default', async (t) => {
    await allowed(t, 'publish to alice-x', async (ch) => ch.publish('alice-x', 'k', Buffer.from('m')));
    await allowed(t, 'publish to the default exchange', async (ch) => ch.publish('', 'alice-q', Buffer.from('m')));
    await denied(t, 'publish to bob-x', async (ch) => ch.publish('bob-x', 'k', Buffer.from('m')), refused('write', 'exchange', 'bob-x'));
    // A user whose write pattern does not name amq.default may not use the default exchange.
    await api(b, 'PUT', '/api/users/dave', { password: 'dave-pw', tags: '' });
    await api(b, 'PUT', `/api/permissions/${V}/dave`, { configure: '.*', write: '^dave-', read: '.*' });
    const dave = await connect(`amqp://dave:dave-pw@127.0.0.1:${b.port}/${V}`);
    const r = await channelErrorCode(dave, async (ch) => ch.publish('', 'bob-q', Buffer.from('m')));
    t.equal(r.code, 403);
    t.ok(r.message.includes(`"ACCESS_REFUSED - write access to exchange 'amq.default' in vhost '${V}' refused for user 'dave'"`), r.message);
    await dave.close();
  });

  t.test('topic permissions: routing keys on topic exchanges', async (t) => {
    await allowed(t, 'publish alice.1 to amq.topic', async (ch) => ch.publish('amq.topic', 'alice.1', Buffer.from('m')));
    await denied(t, 'publish bob.1 to amq.topic', async (ch) => ch.publish('amq.topic', 'bob.1', Buffer.from('m')),
      `ACCESS_REFUSED - write access to topic 'bob.1' in exchange 'amq.topic' in vhost '${V}' refused for user 'alice'`);
    await allowed(t, 'bind with key alice.#', (ch) => ch.bindQueue('alice-q', 'amq.topic', 'alice.#'));
    await denied(t, 'bind with key bob.#', (ch) => ch.bindQueue('alice-q', 'amq.topic', 'bob.#'),
      `ACCESS_REFUSED - read access to topic 'bob.#' in exchange 'amq.topic' in vhost '${V}' refused for user 'alice'`);
    // Exchanges without topic permissions, and non-topic exchanges, do not check routing keys.
    await allowed(t, 'any key to alice-x', async (ch) => ch.publish('alice-x', 'bob.1', Buffer.from('m')));
  });

  t.test('queue.purge, basic.get, basic.consume: read on the queue', async (t) => {
    await allowed(t, 'purge alice-q', (ch) => ch.purgeQueue('alice-q'));
    await denied(t, 'purge bob-q', (ch) => ch.purgeQueue('bob-q'), refused('read', 'queue', 'bob-q'));
    await allowed(t, 'get alice-q', (ch) => ch.get('alice-q'));
    await denied(t, 'get bob-q', (ch) => ch.get('bob-q'), refused('read', 'queue', 'bob-q'));
    await allowed(t, 'consume alice-q', (ch) => ch.consume('alice-q', () => undefined));
    await denied(t, 'consume bob-q', (ch) => ch.consume('bob-q', () => undefined), refused('read', 'queue', 'bob-q'));
  });

  t.test('queue.delete and exchange.delete: configure', async (t) => {
    await denied(t, 'delete bob-q', (ch) => ch.deleteQueue('bob-q'), refused('configure', 'queue', 'bob-q'));
    await denied(t, 'delete bob-x', (ch) => ch.deleteExchange('bob-x'), refused('configure', 'exchange', 'bob-x'));
    await denied(t, 'delete amq.direct', (ch) => ch.deleteExchange('amq.direct'),
      `ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '${V}' not allowed`);
    await allowed(t, 'delete alice-dl1', (ch) => ch.deleteQueue('alice-dl1'));
    await allowed(t, 'delete alice-ae1', (ch) => ch.deleteExchange('alice-ae1'));
    const still = await channelErrorCode(admin, (ch) => ch.checkQueue('bob-q'));
    t.equal(still.code, null, "bob's queue is still there");
  });

  t.test('user_id: only the own name unless impersonator', async (t) => {
    await denied(t, 'publish with user_id bob', async (ch) => ch.publish('alice-x', 'k', Buffer.from('m'), { userId: 'bob' }),
      "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'alice'", 406);
    await allowed(t, 'publish with user_id alice', async (ch) => ch.publish('alice-x', 'k', Buffer.from('m'), { userId: 'alice' }));
  });

  t.test('vhost access at connection.open: 530', async (t) => {
    await api(b, 'PUT', '/api/vhosts/other', {});
    const err = await connect(`amqp://alice:alice-pw@127.0.0.1:${b.port}/other`).then(() => null, (e: Error) => e);
    t.ok(err, 'amqplib: refused');
    for (const vhost of ['other', 'no-such-vhost']) {
      const c = await RawConn.open(b.port, { user: 'alice', password: 'alice-pw', open: false });
      c.send(0, { name: 'connection.open', virtualHost: vhost });
      t.same(await c.connectionClose(), {
        replyCode: 530, replyText: `NOT_ALLOWED - access to vhost '${vhost}' refused for user 'alice'`, classId: 10, methodId: 40,
      }, `vhost '${vhost}': 530 naming connection.open`);
      c.destroy();
    }
  });

  t.test('a permission change applies to open connections at their next operation', async (t) => {
    const ch = await channel(alice);
    await ch.assertQueue('alice-live', { durable: false });
    ch.publish('alice-x', 'k', Buffer.from('before'));
    await ch.checkQueue('alice-live'); // a round trip: the publish was handled before the change
    await api(b, 'PUT', `/api/permissions/${V}/alice`, { configure: '^nothing$', write: '^nothing$', read: '^(amq\\.topic|alice-.*)$' });
    const closed = new Promise<Error>((r) => ch.once('error', r));
    ch.publish('alice-x', 'k', Buffer.from('after'));
    const e = await closed;
    t.ok(e.message.includes(`"${refused('write', 'exchange', 'alice-x')}"`), 'the same channel, same exchange: refused now');
    await denied(t, 'declare after revocation', (c) => c.assertQueue('alice-live', { durable: false }), refused('configure', 'queue', 'alice-live'));
    await api(b, 'PUT', `/api/permissions/${V}/alice`, { configure: '^alice-', write: '^(amq\\.default|alice-.*)$', read: '^alice-' });
    await allowed(t, 'declare after the grant', (c) => c.assertQueue('alice-live', { durable: false }));
    // Removing the permission entry altogether refuses everything.
    await api(b, 'DELETE', `/api/permissions/${V}/alice`);
    await denied(t, 'after DELETE of the permission', (c) => c.checkQueue('alice-live').then(() => c.get('alice-live')), refused('read', 'queue', 'alice-live'));
  });

  t.test('impersonator may set another user_id', async (t) => {
    await api(b, 'PUT', `/api/permissions/${V}/alice`, { configure: '^alice-', write: '^(amq\\.default|alice-.*)$', read: '^alice-' });
    await api(b, 'PUT', '/api/users/alice', { password: 'alice-pw', tags: 'impersonator' });
    await sleep(10);
    await allowed(t, 'publish with user_id bob', async (ch) => ch.publish('alice-x', 'k', Buffer.from('m'), { userId: 'bob' }));
  });
});

