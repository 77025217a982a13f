// Users, vhosts, permissions and limits over the management API (RabbitMQ 3.10's shapes and
// status codes), their effect on AMQP clients, and the refusal of cross-site writes.
import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker } from '../helpers/broker';
import { channel, channelErrorCode, connect, sleep, waitFor } from '../helpers/amqp';
import { api, basic } from '../helpers/http';
import { RawConn } from '../helpers/raw-amqp';

t.test('management API: access control', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const origin = `http://127.0.0.1:${b.httpPort}`;

  t.test('cross-site writes are refused', async (t) => {
    const evilAdmin = { users: [{ name: 'evil', password: 'evil', tags: 'administrator' }], permissions: [] };
    const text = JSON.stringify(evilAdmin);
    const cases: Array<[string, Record<string, string>, number]> = [
      ['text/plain from a foreign origin', { 'content-type': 'text/plain', origin: 'http://evil.example' }, 403],
      ['text/plain, no origin', { 'content-type': 'text/plain' }, 415],
      ['form-encoded', { 'content-type': 'application/x-www-form-urlencoded' }, 415],
      ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }, 415],
      ['JSON from a foreign origin', { 'content-type': 'application/json', origin: 'http://evil.example' }, 403],
      ['JSON from origin "null"', { 'content-type': 'application/json', origin: 'null' }, 403],
      ['JSON from the same host on another port', { 'content-type': 'application/json', origin: 'http://127.0.0.1:1' }, 403],
    ];
    for (const [what, headers, status] of cases) {
      const r = await api(b, 'POST', '/api/definitions', text, { headers });
      t.equal(r.status, status, `${what}: ${status}`);
    }
    t.equal((await api(b, 'GET', '/api/users/evil')).status, 404, 'no administrator was created');
    t.equal((await api(b, 'POST', '/api/definitions', text, { headers: { 'content-type': 'application/json', origin } })).status, 204, 'same origin: accepted');
    t.equal((await api(b, 'DELETE', '/api/users/evil')).status, 204, 'DELETE without a body or content type (curl) is accepted');
    const xhr = await api(b, 'PUT', '/api/vhosts/xhr', '', { headers: { 'content-type': 'text/plain', 'x-requested-with': 'XMLHttpRequest' } });
    t.equal(xhr.status, 201, 'a custom header (which needs a preflight cross-site) is enough');
    t.equal((await api(b, 'GET', '/api/overview', undefined, { headers: { origin: 'http://evil.example' } })).status, 200, 'reads are not refused');
  });

  t.test('users: create, read, update, delete', async (t) => {
    let r = await api(b, 'PUT', '/api/users/bob', { password: 'bob-pw', tags: 'management' });
    t.equal(r.status, 201, 'created');
    r = await api(b, 'GET', '/api/users/bob');
    t.equal(r.status, 200);
    t.same(Object.keys(r.body).sort(), ['hashing_algorithm', 'limits', 'name', 'password_hash', 'tags']);
    t.match(r.body, { name: 'bob', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['management'], limits: {} });
    t.equal(Buffer.from(r.body.password_hash, 'base64').length, 36, 'salted SHA-256');
    t.same((await api(b, 'GET', '/api/whoami', undefined, { auth: basic('bob', 'bob-pw') })).body, { name: 'bob', tags: ['management'] });
    t.equal((await api(b, 'PUT', '/api/users/bob', { password: 'bob-pw2', tags: ['management', 'policymaker'] })).status, 204, 'updated');
    t.equal((await api(b, 'GET', '/api/whoami', undefined, { auth: basic('bob', 'bob-pw') })).status, 401, 'old password no longer works');
    t.same((await api(b, 'GET', '/api/whoami', undefined, { auth: basic('bob', 'bob-pw2') })).body.tags, ['management', 'policymaker']);
    t.equal((await api(b, 'PUT', '/api/users/x', { password: 'x', tags: '' }, { auth: basic('bob', 'bob-pw2') })).status, 403, 'only administrators manage users');

    // A hash made elsewhere (SHA-512, as rabbitmqctl would with password_hashing_module sha512).
    const salt = crypto.randomBytes(4);
    const hash = Buffer.concat([salt, crypto.createHash('sha512').update(Buffer.concat([salt, Buffer.from('s3cret')])).digest()]).toString('base64');
    t.equal((await api(b, 'PUT', '/api/users/hashed', { password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha512', tags: 'monitoring' })).status, 201);
    t.equal((await api(b, 'GET', '/api/whoami', undefined, { auth: basic('hashed', 's3cret') })).status, 200, 'logs in with the password behind the hash');
    t.equal((await api(b, 'PUT', '/api/users/both', { password: 'a', password_hash: hash, tags: '' })).status, 400, 'password and password_hash together: 400');
    t.equal((await api(b, 'PUT', '/api/users/bad', { password_hash: 'not base64!', tags: '' })).status, 400);
    t.equal((await api(b, 'PUT', '/api/users/algo', { password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha1', tags: '' })).status, 400);

    // No password: may log in only with EXTERNAL.
    t.equal((await api(b, 'PUT', '/api/users/nopw', { tags: 'administrator' })).status, 201);
    t.equal((await api(b, 'GET', '/api/users/nopw')).body.password_hash, '');
    t.equal((await api(b, 'GET', '/api/whoami', undefined, { auth: basic('nopw', '') })).status, 401, 'a blank password is refused');

    t.match((await api(b, 'GET', '/api/users/without-permissions')).body.map((u: { name: string }) => u.name).sort(), ['bob', 'hashed', 'nopw']);
    t.equal((await api(b, 'POST', '/api/users/bulk-delete', { users: ['hashed', 'nopw'] })).status, 204);
    t.equal((await api(b, 'GET', '/api/users/hashed')).status, 404);
    t.same((await api(b, 'GET', '/api/users')).body.map((u: { name: string }) => u.name).sort(), ['bob', 'guest']);
  });

  t.test("deleting a user closes the user's connections", async (t) => {
    await api(b, 'PUT', '/api/permissions/%2F/bob', { configure: '.*', write: '.*', read: '.*' });
    const c = await RawConn.open(b.port, { user: 'bob', password: 'bob-pw2' });
    t.equal((await api(b, 'DELETE', '/api/users/bob')).status, 204);
    t.match(await c.connectionClose(), { replyCode: 320, replyText: "CONNECTION_FORCED - user 'bob' is deleted" });
    c.destroy();
    t.equal((await api(b, 'GET', '/api/users/bob')).status, 404);
    t.equal((await api(b, 'GET', '/api/permissions/%2F/bob')).status, 404, 'and its permissions');
    t.equal((await api(b, 'DELETE', '/api/users/bob')).status, 404);
  });

  t.test('vhosts: create, and delete with its connections and data', async (t) => {
    t.equal((await api(b, 'PUT', '/api/vhosts/v1', { description: 'first' })).status, 201);
    t.equal((await api(b, 'PUT', '/api/vhosts/v1', {})).status, 204);
    t.equal((await api(b, 'GET', '/api/vhosts/v1')).status, 200);
    t.equal((await api(b, 'PUT', '/api/permissions/v1/guest', { configure: '.*', write: '.*', read: '.*' })).status, 201);
    const conn = await connect(`amqp://guest:guest@127.0.0.1:${b.port}/v1`);
    const ch = await channel(conn);
    await ch.assertQueue('keep', { durable: true });
    ch.sendToQueue('keep', Buffer.from('persistent'), { persistent: true });
    await ch.assertExchange('x1', 'fanout', { durable: true });
    await sleep(200);
    const vhostDirs = fs.readdirSync(path.join(b.dataDir, 'vhosts'));
    const closed = new Promise<Error>((r) => conn.once('close', r as () => void));
    t.equal((await api(b, 'DELETE', '/api/vhosts/v1')).status, 204);
    const e = await closed;
    t.match(String(e), /320/, 'its connection closed with 320');
    t.match(String(e), /vhost 'v1' is deleted/);
    t.equal((await api(b, 'GET', '/api/vhosts/v1')).status, 404);
    t.equal((await api(b, 'GET', '/api/permissions/v1/guest')).status, 404, 'its permissions are gone');
    t.ok(fs.readdirSync(path.join(b.dataDir, 'vhosts')).length < vhostDirs.length, 'its data directory is gone');
    t.equal((await api(b, 'PUT', '/api/vhosts/v1', {})).status, 201, 'recreated');
    await api(b, 'PUT', '/api/permissions/v1/guest', { configure: '.*', write: '.*', read: '.*' });
    const c2 = await connect(`amqp://guest:guest@127.0.0.1:${b.port}/v1`);
    t.equal((await channelErrorCode(c2, (c) => c.checkQueue('keep'))).code, 404, 'the new vhost is empty');
    await c2.close();
    t.equal((await api(b, 'DELETE', '/api/vhosts/no-such')).status, 404);
  });

  t.test('permissions and topic permissions', async (t) => {
    t.same((await api(b, 'GET', '/api/permissions/%2F/guest')).body, { user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' });
    t.match((await api(b, 'GET', '/api/permissions')).body, [{ user: 'guest', vhost: '/' }]);
    t.match((await api(b, 'GET', '/api/users/guest/permissions')).body, [{ vhost: '/' }]);
    t.match((await api(b, 'GET', '/api/vhosts/%2F/permissions')).body, [{ user: 'guest' }]);
    await api(b, 'PUT', '/api/users/carl', { password: 'carl-pw', tags: '' });
    const bad = await api(b, 'PUT', '/api/permissions/%2F/carl', { configure: '(', write: '', read: '' });
    t.equal(bad.status, 400);
    t.match(bad.body.reason, /invalid regular expression/);
    t.equal((await api(b, 'PUT', '/api/permissions/no-vhost/carl', { configure: '', write: '', read: '' })).body.reason, 'vhost_or_user_not_found');
    t.equal((await api(b, 'PUT', '/api/permissions/%2F/carl', { configure: '', write: '', read: '' })).status, 201);
    t.equal((await api(b, 'PUT', '/api/permissions/%2F/carl', { configure: '^carl-', write: '^carl-', read: '^carl-' })).status, 204);
    t.equal((await api(b, 'PUT', '/api/topic-permissions/%2F/carl', { exchange: 'amq.topic', write: '^carl\\.', read: '.*' })).status, 201);
    t.same((await api(b, 'GET', '/api/topic-permissions/%2F/carl')).body, [{ user: 'carl', vhost: '/', exchange: 'amq.topic', write: '^carl\\.', read: '.*' }]);
    t.equal((await api(b, 'DELETE', '/api/topic-permissions/%2F/carl')).status, 204);
    t.equal((await api(b, 'GET', '/api/topic-permissions/%2F/carl')).status, 404);
    t.equal((await api(b, 'DELETE', '/api/permissions/%2F/carl')).status, 204);
    t.equal((await api(b, 'GET', '/api/permissions/%2F/carl')).status, 404);
  });

  t.test('vhost limits: max-queues and max-connections', async (t) => {
    await api(b, 'PUT', '/api/vhosts/lim', {});
    await api(b, 'PUT', '/api/permissions/lim/guest', { configure: '.*', write: '.*', read: '.*' });
    t.equal((await api(b, 'PUT', '/api/vhost-limits/lim/max-queues', { value: 2 })).status, 204);
    t.equal((await api(b, 'PUT', '/api/vhost-limits/lim/max-connections', { value: 1 })).status, 204);
    t.equal((await api(b, 'PUT', '/api/vhost-limits/lim/max-bananas', { value: 1 })).status, 400, 'unknown limit');
    t.equal((await api(b, 'PUT', '/api/vhost-limits/lim/max-queues', { value: 'two' })).status, 400, 'not an integer');
    t.same((await api(b, 'GET', '/api/vhost-limits/lim')).body, [{ vhost: 'lim', value: { 'max-queues': 2, 'max-connections': 1 } }]);
    const c = await connect(`amqp://guest:guest@127.0.0.1:${b.port}/lim`);
    const r = await RawConn.open(b.port, { open: false });
    r.send(0, { name: 'connection.open', virtualHost: 'lim' });
    t.same(await r.connectionClose(), {
      replyCode: 530, replyText: "NOT_ALLOWED - access to vhost 'lim' refused for user 'guest': connection limit (1) is reached", classId: 10, methodId: 40,
    }, 'the second connection to the vhost is refused');
    r.destroy();
    const ch = await channel(c);
    await ch.assertQueue('q1');
    await ch.assertQueue('q2');
    await ch.assertQueue('q1');
    const e = await channelErrorCode(c, (x) => x.assertQueue('q3'));
    t.equal(e.code, 406);
    t.ok(e.message.includes(`"PRECONDITION_FAILED - cannot declare queue 'q3': queue limit in vhost 'lim' (2) is reached"`), e.message);
    t.equal((await api(b, 'DELETE', '/api/vhost-limits/lim/max-queues')).status, 204);
    t.equal((await channelErrorCode(c, (x) => x.assertQueue('q3'))).code, null, 'no limit after DELETE');
    await c.close();
    await api(b, 'PUT', '/api/vhost-limits/lim/max-connections', { value: -1 });
    const c1 = await connect(`amqp://guest:guest@127.0.0.1:${b.port}/lim`);
    const c2 = await connect(`amqp://guest:guest@127.0.0.1:${b.port}/lim`);
    t.pass('a negative limit means none');
    await c1.close();
    await c2.close();
  });

  t.test('user limits: max-connections and max-channels', async (t) => {
    await api(b, 'PUT', '/api/users/lu', { password: 'lu-pw', tags: '' });
    await api(b, 'PUT', '/api/permissions/%2F/lu', { configure: '.*', write: '.*', read: '.*' });
    t.equal((await api(b, 'PUT', '/api/user-limits/lu/max-connections', { value: 1 })).status, 204);
    t.equal((await api(b, 'PUT', '/api/user-limits/lu/max-channels', { value: 2 })).status, 204);
    t.same((await api(b, 'GET', '/api/user-limits/lu')).body, [{ user: 'lu', value: { 'max-connections': 1, 'max-channels': 2 } }]);
    const c = await RawConn.open(b.port, { user: 'lu', password: 'lu-pw' });
    const r = await RawConn.open(b.port, { user: 'lu', password: 'lu-pw', open: false });
    r.send(0, { name: 'connection.open', virtualHost: '/' });
    t.match(await r.connectionClose(), { replyCode: 530, replyText: "NOT_ALLOWED - connection refused for user 'lu': user connection limit (1) is reached" });
    r.destroy();
    await c.openChannel(1);
    await c.openChannel(2);
    c.send(1, { name: 'channel.close', replyCode: 200, replyText: '', classId: 0, methodId: 0 });
    await c.expect(1, 'channel.close-ok');
    await c.openChannel(3);
    t.pass('a closed channel frees its place');
    c.send(4, { name: 'channel.open' });
    t.match(await c.connectionClose(), { replyCode: 530, replyText: "NOT_ALLOWED - number of channels opened for user 'lu' has reached the maximum allowed user limit of (2)" });
    c.destroy();
    t.equal((await api(b, 'DELETE', '/api/user-limits/lu/max-connections')).status, 204);
    await waitFor(() => true, 50);
    const a1 = await RawConn.open(b.port, { user: 'lu', password: 'lu-pw' });
    const a2 = await RawConn.open(b.port, { user: 'lu', password: 'lu-pw' });
    t.pass('two connections after the limit is removed');
    a1.destroy();
    a2.destroy();
  });

  t.test('listeners and login counters', async (t) => {
    const o = (await api(b, 'GET', '/api/overview')).body;
    t.match(o.listeners, [{ protocol: 'amqp', port: b.port }, { protocol: 'http', port: b.httpPort }]);
    const metrics = async () => Number(/rabbitmq_auth_attempts_failed_total (\d+)/.exec(await (await fetch(`${origin}/metrics`)).text())?.[1]);
    const before = await metrics();
    await RawConn.open(b.port, { user: 'guest', password: 'wrong', open: false }).catch(() => undefined);
    t.equal(await metrics(), before + 1, 'a refused AMQP login is counted');
    t.ok(b.logs.some((l) => /127\.0\.0\.1:\d+ -> .*PLAIN login refused: user 'guest' - invalid credentials/.test(l)), 'and logged with the peer address');
  });
});
