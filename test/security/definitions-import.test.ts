// A real RabbitMQ 3.10.8 export (../shared/fixtures/rabbitmq-3.10-definitions.json) imports
// unchanged: every user logs in with the password it had in RabbitMQ (SHA-256 and SHA-512
// hashes) and gets exactly its permissions and limits; what Warren does not apply is kept and
// exported again. An import with a problem anywhere changes nothing.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker, tempDir, ROOT } from '../helpers/broker';
import { channelErrorCode, connect } from '../helpers/amqp';
import { api, basic } from '../helpers/http';
import { RawConn } from '../helpers/raw-amqp';

const FIXTURE = path.resolve(ROOT, '..', 'shared', 'fixtures', 'rabbitmq-3.10-definitions.json');
const PASSWORDS: Record<string, string> = { guest: 'guest', ops: 'ops-pw', mon: 'mon-pw', alice: 'alice-pw', carol: 'carol-pw' };

t.test('RabbitMQ 3.10 definitions', { skip: !fs.existsSync(FIXTURE) && `no fixture at ${FIXTURE}` }, async (t) => {
  const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
  const b = await startBroker({ logLevel: 'warning', extraArgs: ['--auth-failure-delay', '50'] });
  t.teardown(() => b.kill());
  const res = await api(b, 'POST', '/api/definitions', fixture);
  t.equal(res.status, 204, `imported (${res.text})`);

  // Logs in over AMQP to vhost; returns null or the connection.close reply.
  async function open(user: string, password: string, vhost: string) {
    const c = await RawConn.open(b.port, { user, password, open: false }).catch((e: Error) => e);
    if (c instanceof Error) return { replyText: `login failed: ${c.message}` };
    c.send(0, { name: 'connection.open', virtualHost: vhost });
    const f = await c.next((x) => x.channel === 0 && (x.method?.name === 'connection.open-ok' || x.method?.name === 'connection.close'));
    c.destroy();
    return f.method!.name === 'connection.open-ok' ? null : f.method as { replyCode: number; replyText: string };
  }

  t.test('every user logs in with its RabbitMQ password, and only with it', async (t) => {
    for (const [user, pw] of Object.entries(PASSWORDS)) {
      const vhost = user === 'carol' ? 'dev' : '/';
      const hash = fixture.users.find((u: { name: string }) => u.name === user).hashing_algorithm;
      if (user === 'mon') {
        t.match(await open(user, pw, vhost), { replyCode: 530 }, 'mon: logged in (no vhost permissions, so 530 at connection.open)');
      } else {
        t.equal(await open(user, pw, vhost), null, `${user} (${hash}) logs in to ${vhost}`);
      }
      const wrong = await RawConn.open(b.port, { user, password: pw + 'x', open: false }).then(() => 'accepted', (e: Error) => e.message);
      t.not(wrong, 'accepted', `${user}: a wrong password is refused`);
    }
    const h = await api(b, 'GET', '/api/whoami', undefined, { auth: basic('ops', 'ops-pw') });
    t.same(h.body, { name: 'ops', tags: ['administrator'] }, 'ops logs in over HTTP too');
    const m = await api(b, 'GET', '/api/overview', undefined, { auth: basic('mon', 'mon-pw') });
    t.equal(m.status, 200, 'mon (monitoring) reads the overview');
    const c = await api(b, 'GET', '/api/overview', undefined, { auth: basic('carol', 'carol-pw') });
    t.equal(c.status, 401, 'carol has no management tag');
  });

  t.test('vhost access is exactly the permissions list', async (t) => {
    const expect: Array<[string, string, boolean]> = [
      ['guest', '/', true], ['guest', 'dev', false], ['ops', '/', true], ['ops', 'dev', false],
      ['alice', '/', true], ['alice', 'dev', true], ['carol', 'dev', true], ['carol', '/', false], ['mon', '/', false],
    ];
    for (const [user, vhost, ok] of expect) {
      const r = await open(user, PASSWORDS[user], vhost);
      if (ok) t.equal(r, null, `${user} may use ${vhost}`);
      else t.same(r && { replyCode: r.replyCode, replyText: r.replyText }, { replyCode: 530, replyText: `NOT_ALLOWED - access to vhost '${vhost}' refused for user '${user}'` }, `${user} may not use ${vhost}`);
    }
  });

  t.test("alice's and carol's patterns", async (t) => {
    const alice = await connect(`amqp://alice:alice-pw@127.0.0.1:${b.port}/`);
    const refused = (kind: string, type: string, name: string, vhost: string, user: string) =>
      `"ACCESS_REFUSED - ${kind} access to ${type} '${name}' in vhost '${vhost}' refused for user '${user}'"`;
    t.equal((await channelErrorCode(alice, (ch) => ch.assertQueue('alice-q1', { durable: false }))).code, null, 'configure ^alice-.*');
    let r = await channelErrorCode(alice, (ch) => ch.assertQueue('q1', { durable: false }));
    t.ok(r.message.includes(refused('configure', 'queue', 'q1', '/', 'alice')), r.message);
    t.equal((await channelErrorCode(alice, async (ch) => ch.sendToQueue('alice-q1', Buffer.from('m')))).code, null, 'write amq.default');
    r = await channelErrorCode(alice, async (ch) => ch.publish('amq.direct', 'k', Buffer.from('m')));
    t.ok(r.message.includes(refused('write', 'exchange', 'amq.direct', '/', 'alice')), 'write is anchored: amq.direct refused');
    t.equal((await channelErrorCode(alice, (ch) => ch.get('alice-q1'))).code, null, 'read ^alice-.*');
    r = await channelErrorCode(alice, (ch) => ch.get('orders.in'));
    t.ok(r.message.includes(refused('read', 'queue', 'orders.in', '/', 'alice')), r.message);
    await alice.close();
    const carol = await connect(`amqp://carol:carol-pw@127.0.0.1:${b.port}/dev`);
    t.equal((await channelErrorCode(carol, (ch) => ch.assertQueue('carol-q', { durable: false }))).code, null, 'carol: ^carol-');
    r = await channelErrorCode(carol, (ch) => ch.assertQueue('x-q', { durable: false }));
    t.ok(r.message.includes(refused('configure', 'queue', 'x-q', 'dev', 'carol')), r.message);
    await carol.close();
    const tp = await api(b, 'GET', '/api/topic-permissions/%2F/alice');
    t.same(tp.body, [{ user: 'alice', vhost: '/', exchange: 'amq.topic', write: '^alice\\..*', read: '^alice\\..*' }], 'topic permissions');
  });

  t.test("alice's limits: 10 connections, 50 channels", async (t) => {
    const conns = [];
    for (let i = 0; i < 10; i++) conns.push(await connect(`amqp://alice:alice-pw@127.0.0.1:${b.port}/dev`));
    const eleventh = await open('alice', 'alice-pw', 'dev');
    t.same(eleventh && { replyCode: eleventh.replyCode, replyText: eleventh.replyText }, {
      replyCode: 530, replyText: "NOT_ALLOWED - connection refused for user 'alice': user connection limit (10) is reached",
    }, 'the 11th connection is refused');
    await Promise.all(conns.slice(1).map((c) => c.close()));
    const c = await RawConn.open(b.port, { user: 'alice', password: 'alice-pw', vhost: 'dev' });
    for (let ch = 1; ch <= 50; ch++) await c.openChannel(ch);
    c.send(51, { name: 'channel.open' });
    t.same(await c.connectionClose(), {
      replyCode: 530, replyText: "NOT_ALLOWED - number of channels opened for user 'alice' has reached the maximum allowed user limit of (50)", classId: 0, methodId: 0,
    }, 'the 51st channel is refused');
    c.destroy();
    await conns[0].close();
    const limits = await api(b, 'GET', '/api/user-limits/alice');
    t.same(limits.body, [{ user: 'alice', value: { 'max-channels': 50, 'max-connections': 10 } }]);
    const vl = await api(b, 'GET', '/api/vhost-limits/dev');
    t.same(vl.body, [{ vhost: 'dev', value: { 'max-connections': 100, 'max-queues': 500 } }]);
  });

  t.test('export: same users and hashes, limits, kept sections', async (t) => {
    const d = (await api(b, 'GET', '/api/definitions')).body;
    for (const u of fixture.users) {
      t.match(d.users.find((x: { name: string }) => x.name === u.name), { password_hash: u.password_hash, hashing_algorithm: u.hashing_algorithm, tags: u.tags, limits: u.limits }, `user ${u.name}`);
    }
    t.same(d.topic_permissions, fixture.topic_permissions);
    t.same([...d.permissions].sort(byJson), [...fixture.permissions].sort(byJson));
    t.same([...d.parameters].sort(byJson), [...fixture.parameters].sort(byJson), 'vhost-limits applied; operator policy, shovel, federation kept');
    t.same(d.policies, fixture.policies, 'policies kept');
    t.same(d.global_parameters, fixture.global_parameters, 'global parameters kept');
  });

  t.test('after a restart, everything is still there', async (t) => {
    await b.stop();
    const b2 = await startBroker({ dataDir: b.dataDir, logLevel: 'warning' });
    t.teardown(() => b2.kill());
    for (const user of ['ops', 'carol']) {
      const c = await RawConn.open(b2.port, { user, password: PASSWORDS[user], vhost: user === 'carol' ? 'dev' : '/' });
      t.pass(`${user} logs in after the restart`);
      c.destroy();
    }
    t.same((await api(b2, 'GET', '/api/vhost-limits/dev')).body, [{ vhost: 'dev', value: { 'max-connections': 100, 'max-queues': 500 } }]);
  });
});

function byJson(a: unknown, b: unknown): number {
  const x = JSON.stringify(a), y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

t.test('an import is validated as a whole and applied atomically', async (t) => {
  const b = await startBroker({ logLevel: 'warning', extraArgs: ['--auth-failure-delay', '50'] });
  t.teardown(() => b.kill());
  const doc = {
    vhosts: [{ name: 'new-vhost' }],
    users: [{ name: 'new-user', password_hash: '', tags: '' }],
    permissions: [{ user: 'new-user', vhost: 'new-vhost', configure: '(', write: '.*', read: '.*' }],
    queues: [{ name: 'new-q', vhost: 'new-vhost', durable: true, auto_delete: false, arguments: { 'x-max-length': 'ten' } }],
    exchanges: [{ name: 'new-x', vhost: 'new-vhost', type: 'fanciful', durable: true, auto_delete: false, internal: false, arguments: {} }],
    bindings: [{ source: 'no-such-x', vhost: 'new-vhost', destination: 'new-q', destination_type: 'queue', routing_key: '', arguments: {} }],
  };
  const r = await api(b, 'POST', '/api/definitions', doc);
  t.equal(r.status, 400);
  t.match(r.body.reason, /permissions\[0\]: configure: invalid regular expression '\('/);
  t.match(r.body.reason, /queues\[0\]: invalid arg 'x-max-length'/);
  t.match(r.body.reason, /exchanges\[0\]: exchange 'new-x': unknown exchange type "fanciful"/);
  t.match(r.body.reason, /bindings\[0\]: no exchange 'no-such-x' in vhost 'new-vhost'/);
  t.equal((await api(b, 'GET', '/api/vhosts/new-vhost')).status, 404, 'the vhost was not created');
  t.equal((await api(b, 'GET', '/api/users/new-user')).status, 404, 'nor the user');

  // Nested arguments beyond the field-table depth limit: 400, not a stack overflow.
  const deep = '{"a":'.repeat(5000) + '{}' + '}'.repeat(5000);
  const d = await api(b, 'POST', '/api/definitions', `{"queues":[{"name":"deep","vhost":"/","durable":true,"arguments":{"x-deep":${deep}}}]}`,
    { headers: { 'content-type': 'application/json' } });
  t.equal(d.status, 400);
  t.match(d.body.reason, /nested deeper than 64 levels/);

  // A user without a password hash imports as a user without a password: its logins are refused
  // (403), not failed with an internal error.
  const ok = await api(b, 'POST', '/api/definitions', { users: [{ name: 'nopw', tags: 'administrator' }], permissions: [{ user: 'nopw', vhost: '/', configure: '.*', write: '.*', read: '.*' }] });
  t.equal(ok.status, 204);
  const login = await RawConn.open(b.port, { user: 'nopw', password: 'anything', open: false }).then(() => null, (e: Error) => e.message);
  t.ok(login, 'AMQP login refused');
  t.equal((await api(b, 'GET', '/api/whoami', undefined, { auth: basic('nopw', 'anything') })).status, 401, 'HTTP login refused with 401');
  t.equal((await api(b, 'GET', '/api/users/nopw')).body.password_hash, '');
});

// Durable definitions live in the metadata store (test/faults/metadata.test.ts covers its
// damage); a definitions.json left by an earlier version is read once, at the first start.
t.test('a legacy definitions file that does not parse stops startup with a message naming the file', async (t) => {
  const dataDir = tempDir();
  const file = path.join(dataDir, 'definitions.json');
  fs.writeFileSync(file, JSON.stringify({ vhosts: [{ name: '/' }], users: [] }).slice(0, 20));
  const err = await startBroker({ dataDir, logLevel: 'warning' }).then(() => 'started', (e: Error) => e.message);
  t.match(err, new RegExp(`cannot read definitions from ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
});
