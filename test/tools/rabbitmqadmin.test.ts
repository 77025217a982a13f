// RabbitMQ's own CLI, rabbitmqadmin (v1, from Debian's rabbitmq-server package), against
// Warren: every verb exits 0 and does what it says, checked over AMQP and the API.
import t from 'tap';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as amqplib from 'amqplib';
import { startBroker, tempDir } from '../helpers/broker';
import { connect, confirmChannel, sleep } from '../helpers/amqp';

const RABBITMQADMIN = process.env.WARREN_RABBITMQADMIN ?? '/usr/bin/rabbitmqadmin';

t.test('rabbitmqadmin against Warren', { skip: fs.existsSync(RABBITMQADMIN) ? false : `no ${RABBITMQADMIN} (apt-get install rabbitmq-server)` }, async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const admin = (...args: string[]) => new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile('/usr/bin/python3', [RABBITMQADMIN, '-H', '127.0.0.1', '-P', String(b.httpPort), '-u', 'guest', '-p', 'guest', ...args], (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
    });
  });
  const ok = async (...args: string[]) => {
    const r = await admin(...args);
    t.equal(r.code, 0, `rabbitmqadmin ${args.join(' ')}${r.code !== 0 ? `: ${r.err}${r.out}` : ''}`);
    return r.out;
  };
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const ch = await confirmChannel(c);

  await ok('declare', 'queue', 'name=adm.q', 'durable=true', 'arguments={"x-max-length": 100}');
  t.equal((await ch.checkQueue('adm.q')).messageCount, 0, 'declare queue');
  await ok('declare', 'queue', 'name=adm.quorum', 'queue_type=quorum');
  await ok('declare', 'exchange', 'name=adm.x', 'type=topic', 'durable=true');
  await ch.checkExchange('adm.x');
  await ok('declare', 'binding', 'source=adm.x', 'destination=adm.q', 'routing_key=a.#');
  await ok('publish', 'exchange=adm.x', 'routing_key=a.b', 'payload=hello from rabbitmqadmin', 'properties={"delivery_mode": 2, "headers": {"k": "v"}}');
  const got = await ok('get', 'queue=adm.q', '--format=raw_json');
  t.match(JSON.parse(got), [{ payload: 'hello from rabbitmqadmin', routing_key: 'a.b', exchange: 'adm.x', properties: { delivery_mode: 2, headers: { k: 'v' } } }]);
  t.equal((await ch.checkQueue('adm.q')).messageCount, 1, 'get requeues by default');
  const m = await ch.get('adm.q', { noAck: true });
  t.ok(m && m.content.toString() === 'hello from rabbitmqadmin' && m.fields.redelivered, 'the message published over HTTP comes back over AMQP, redelivered');
  ch.sendToQueue('adm.q', Buffer.from('x'));
  await ch.waitForConfirms();
  await ok('get', 'queue=adm.q', 'ackmode=ack_requeue_false');
  t.equal((await ch.checkQueue('adm.q')).messageCount, 0, 'ack_requeue_false removes it');

  const consumerCh = await c.createChannel();
  await consumerCh.consume('adm.q', () => undefined, { consumerTag: 'adm-consumer' });
  for (const [what, expect] of [
    ['queues', /adm\.q/], ['exchanges', /adm\.x\s*\|\s*topic/], ['bindings', /adm\.x\s*\|\s*adm\.q\s*\|\s*a\.#/], ['consumers', /adm-consumer/],
    ['connections', /guest/], ['channels', /guest/], ['vhosts', /\|\s*\/\s*\|/], ['nodes', /warren@/],
  ] as Array<[string, RegExp]>) {
    t.match(await ok('list', what), expect, `list ${what}`);
  }
  t.match(await ok('list', 'queues', 'name', 'messages', 'consumers'), /adm\.q\s*\|\s*0\s*\|\s*1/, 'list with columns');
  t.match(await ok('list', 'queues', '--sort=name', '--sort-reverse'), /adm\.quorum[\s\S]*adm\.q\b/, 'sorted');
  t.match(await ok('show', 'overview'), /cluster_name/);

  await ok('declare', 'policy', 'name=adm-p', 'pattern=^adm\\.q$', 'definition={"max-length": 2}', 'apply-to=queues', 'priority=1');
  t.match(await ok('list', 'policies'), /adm-p/);
  const q = await (await fetch(`http://127.0.0.1:${b.httpPort}/api/queues/%2F/adm.q`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } })).json() as { policy: string };
  t.equal(q.policy, 'adm-p', 'the policy applies');
  await ok('declare', 'operator_policy', 'name=adm-op', 'pattern=^adm', 'definition={"max-length": 50}', 'apply-to=queues');
  t.match(await ok('list', 'operator_policies'), /adm-op/);
  await ok('declare', 'parameter', 'component=federation-upstream', 'name=adm-up', 'value={"uri": "amqp://upstream"}');
  t.match(await ok('list', 'parameters'), /adm-up/);

  await consumerCh.close();
  ch.sendToQueue('adm.q', Buffer.from('y'));
  await ch.waitForConfirms();
  await ok('purge', 'queue', 'name=adm.q');
  t.equal((await ch.checkQueue('adm.q')).messageCount, 0, 'purge queue');

  const dir = tempDir();
  await ok('export', path.join(dir, 'defs.json'));
  const defs = JSON.parse(fs.readFileSync(path.join(dir, 'defs.json'), 'utf8'));
  t.ok(defs.policies.some((p: { name: string }) => p.name === 'adm-p'), 'export holds the policy');
  defs.queues.push({ name: 'adm.imported', vhost: '/', durable: true, auto_delete: false, arguments: {} });
  fs.writeFileSync(path.join(dir, 'defs.json'), JSON.stringify(defs));
  await ok('import', path.join(dir, 'defs.json'));
  await ch.checkQueue('adm.imported');
  await ok('--vhost=/', 'export', path.join(dir, 'vhost.json'));
  t.ok(JSON.parse(fs.readFileSync(path.join(dir, 'vhost.json'), 'utf8')).queues.some((x: { name: string }) => x.name === 'adm.imported'));

  // close connection
  const victim = await amqplib.connect(b.url, { clientProperties: { connection_name: 'adm-victim' } });
  victim.on('error', () => undefined);
  const closed = new Promise<void>((r) => victim.on('close', () => r()));
  await sleep(50);
  const conns = JSON.parse(await ok('list', 'connections', 'name', 'user_provided_name', '--format=raw_json')) as Array<{ name: string; user_provided_name?: string }>;
  await ok('close', 'connection', `name=${conns.find((x) => x.user_provided_name === 'adm-victim')!.name}`);
  await closed;
  t.pass('close connection');

  await ok('delete', 'binding', 'source=adm.x', 'destination_type=queue', 'destination=adm.q', 'properties_key=a.#');
  await ok('delete', 'policy', 'name=adm-p');
  await ok('delete', 'operator_policy', 'name=adm-op');
  await ok('delete', 'parameter', 'component=federation-upstream', 'name=adm-up');
  await ok('delete', 'exchange', 'name=adm.x');
  await ok('delete', 'queue', 'name=adm.imported');
  const probe = await c.createChannel();
  probe.on('error', () => undefined);
  await t.rejects(probe.checkExchange('adm.x'), 'delete exchange');

  // users, permissions, vhosts and limits are the access-control endpoints
  await ok('declare', 'vhost', 'name=adm-vh');
  await ok('declare', 'user', 'name=adm-user', 'password=adm-pw', 'tags=management');
  await ok('declare', 'permission', 'vhost=adm-vh', 'user=adm-user', 'configure=.*', 'write=.*', 'read=.*');
  t.match(await ok('list', 'users'), /adm-user/);
  t.match(await ok('list', 'permissions'), /adm-user/);
  const conn = await amqplib.connect(`amqp://adm-user:adm-pw@127.0.0.1:${b.port}/adm-vh`);
  await conn.close();
  t.pass('a declared user logs in over AMQP');
  await ok('declare', 'vhost_limit', 'vhost=adm-vh', 'name=max-connections', 'value=10');
  t.match(await ok('list', 'vhost_limits'), /adm-vh/);
  await ok('delete', 'permission', 'vhost=adm-vh', 'user=adm-user');
  await ok('delete', 'user', 'name=adm-user');
  await ok('delete', 'vhost', 'name=adm-vh');
});
