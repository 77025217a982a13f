// The broker's durable definitions through the metadata store, in-process (src/broker/
// definitions.ts): every kind of object survives restarts across several compactions; users and
// permissions changed in memory are made durable by a reconcile; a section the store does not
// know (policies, say) is kept as it is, with no format change.
import t from 'tap';
import { Broker } from '../../src/broker/broker';
import { hashPassword } from '../../src/broker/auth/password-hash';
import { DurableDefinitions } from '../../src/broker/durable-definitions';
import { tempDir } from '../helpers/broker';
import { setLogLevel } from '../../src/logger';
import * as path from 'node:path';

setLogLevel('error');
const OWNER = {};

function exported(b: Broker) {
  const d = b.exportDefinitions() as unknown as Record<string, unknown[]>;
  delete (d as Record<string, unknown>).warren_version;
  for (const k of Object.keys(d)) d[k] = [...d[k]].map((x) => JSON.stringify(x)).sort() as unknown[];
  return d;
}

t.test('queues, exchanges and bindings across restarts and compactions', async (t) => {
  const dataDir = tempDir();
  let b = Broker.open({ dataDir, metadataCompactBytes: 4096 });
  let vh = b.vhosts.get('/')!;
  vh.declareExchange('ds.topic', { type: 'topic', passive: false, durable: true, autoDelete: false, internal: false, args: { 'alternate-exchange': 'ds.ae' } });
  vh.declareExchange('ds.ae', { type: 'fanout', passive: false, durable: true, autoDelete: false, internal: false, args: {} });
  vh.declareExchange('ds.transient', { type: 'direct', passive: false, durable: false, autoDelete: false, internal: false, args: {} });
  for (let i = 0; i < 300; i++) {
    vh.declareQueue(`ds.q${i}`, { passive: false, durable: true, exclusive: false, autoDelete: false, args: i % 3 === 0 ? { 'x-max-length': i } : {} }, OWNER);
    vh.bindQueue(`ds.q${i}`, 'ds.topic', `k.${i}.#`, {}, null);
    if (i % 10 === 0) vh.bindQueue(`ds.q${i}`, 'amq.headers', '', { 'x-match': 'any', n: i }, null);
  }
  vh.bindExchange('ds.ae', 'ds.topic', 'e2e', {});
  vh.bindQueue('ds.q1', 'ds.transient', 'x', {}, null);               // not durable: not kept
  vh.declareQueue('ds.excl', { passive: false, durable: true, exclusive: true, autoDelete: false, args: {} }, OWNER); // exclusive: not kept
  for (let i = 0; i < 300; i += 4) vh.deleteQueue(`ds.q${i}`, false, false, null);
  vh.unbindQueue('ds.q1', 'ds.topic', 'k.1.#', {}, null);
  const before = exported(b);
  const store = b.metadata.store;
  await b.close();
  t.ok(store.compactions >= 1, `${store.compactions} compactions while declaring`);

  for (let round = 0; round < 2; round++) {
    b = Broker.open({ dataDir, metadataCompactBytes: 4096 });
    t.same(exported(b), before, `round ${round}: the same definitions after a restart`);
    vh = b.vhosts.get('/')!;
    t.notOk(vh.exchanges.has('ds.transient'));
    t.notOk(vh.queues.has('ds.excl'));
    t.equal(vh.exchanges.get('ds.topic')!.alternateExchange, 'ds.ae');
    await b.close();
  }

  // Deleting an exchange takes its bindings with it, durably.
  b = Broker.open({ dataDir, metadataCompactBytes: 4096 });
  b.vhosts.get('/')!.deleteExchange('ds.topic', false);
  const after = exported(b);
  await b.close();
  b = Broker.open({ dataDir });
  t.same(exported(b), after);
  t.notOk(JSON.stringify(after.bindings).includes('ds.topic'), 'no binding of the deleted exchange is left');
  await b.close();
});

t.test('users and permissions changed in memory are kept by a reconcile (saveDefinitions)', async (t) => {
  const dataDir = tempDir();
  let b = Broker.open({ dataDir });
  const hash = hashPassword('alice-pw');
  b.auth.putUser({ name: 'alice', passwordHash: hash, hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: ['monitoring'], limits: {} });
  b.auth.setPermission({ user: 'alice', vhost: '/', configure: '', write: 'a.*', read: '.*' });
  b.addVhost('other');
  b.saveDefinitions();
  await b.close();
  b = Broker.open({ dataDir });
  t.match(b.users.get('alice'), { name: 'alice', passwordHash: hash, tags: ['monitoring'] });
  t.same(b.auth.permissions.get('alice', '/'), { user: 'alice', vhost: '/', configure: '', write: 'a.*', read: '.*' });
  t.ok(b.vhosts.has('other'));
  b.auth.deleteUser('alice');
  b.saveDefinitions();
  await b.close();
  b = Broker.open({ dataDir });
  t.notOk(b.users.has('alice'), 'a deletion is kept too');
  await b.close();
});

t.test('a section the store has never heard of needs no format change', async (t) => {
  const dir = path.join(tempDir(), 'metadata');
  let d = DurableDefinitions.open(dir, () => false);
  const policy = { vhost: '/', name: 'ttl', pattern: '^q', 'apply-to': 'queues', definition: { 'message-ttl': 5000 }, priority: 1 };
  t.equal(d.reconcile({ policies: [policy], vhosts: [{ name: '/' }] }), 2);
  t.equal(d.reconcile({ policies: [policy], vhosts: [{ name: '/' }] }), 0, 'nothing changed: nothing written');
  await d.close();
  d = DurableDefinitions.open(dir, () => false);
  t.same(d.toDefinitions().policies, [policy]);
  t.equal(d.reconcile({ policies: [{ ...policy, priority: 2 }], vhosts: [{ name: '/' }] }), 1, 'an update is one put');
  await d.close();
});
