import t from 'tap';
import { startBroker } from '../helpers/broker';
import { channel, connect, drain, sleep, uniq } from '../helpers/amqp';

t.test('routing through every exchange type', async (t) => {
  const b = await startBroker();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const ch = await channel(c);

  t.test('default exchange routes by queue name', async (t) => {
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    t.match(q, /^amq\.gen-/, 'server-named queue');
    ch.publish('', q, Buffer.from('hi'));
    const got = await drain(ch, q, 1);
    t.equal(got[0]?.content.toString(), 'hi');
    t.equal(got[0]?.fields.exchange, '');
    t.equal(got[0]?.fields.routingKey, q);
  });

  t.test('direct', async (t) => {
    const x = uniq('x.direct');
    await ch.assertExchange(x, 'direct', { autoDelete: true });
    const qa = (await ch.assertQueue('', { exclusive: true })).queue;
    const qb = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(qa, x, 'a');
    await ch.bindQueue(qb, x, 'b');
    await ch.bindQueue(qb, x, 'both');
    await ch.bindQueue(qa, x, 'both');
    ch.publish(x, 'a', Buffer.from('1'));
    ch.publish(x, 'b', Buffer.from('2'));
    ch.publish(x, 'both', Buffer.from('3'));
    ch.publish(x, 'none', Buffer.from('4'));
    t.same((await drain(ch, qa, 2)).map((m) => m.content.toString()), ['1', '3']);
    t.same((await drain(ch, qb, 2)).map((m) => m.content.toString()), ['2', '3']);
  });

  t.test('fanout ignores the routing key', async (t) => {
    const x = uniq('x.fanout');
    await ch.assertExchange(x, 'fanout', { autoDelete: true });
    const qs = [];
    for (let i = 0; i < 3; i++) {
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      await ch.bindQueue(q, x, `k${i}`);
      qs.push(q);
    }
    ch.publish(x, 'whatever', Buffer.from('all'));
    for (const q of qs) t.same((await drain(ch, q, 1)).map((m) => m.content.toString()), ['all']);
  });

  t.test('topic wildcards', async (t) => {
    const x = uniq('x.topic');
    await ch.assertExchange(x, 'topic', { autoDelete: true });
    const patterns = ['*.orange.*', '*.*.rabbit', 'lazy.#', '#', 'a.#.b', ''];
    const qs: Record<string, string> = {};
    for (const p of patterns) {
      qs[p] = (await ch.assertQueue('', { exclusive: true })).queue;
      await ch.bindQueue(qs[p], x, p);
    }
    const keys = ['quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox', 'lazy.brown.fox',
      'lazy', 'quick.brown.fox', 'orange', 'a.b', 'a.x.y.b', ''];
    for (const k of keys) ch.publish(x, k, Buffer.from(k));
    const expect: Record<string, string[]> = {
      '*.orange.*': ['quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox'],
      '*.*.rabbit': ['quick.orange.rabbit'],
      'lazy.#': ['lazy.orange.elephant', 'lazy.brown.fox', 'lazy'],
      '#': keys,
      'a.#.b': ['a.b', 'a.x.y.b'],
      '': [''],
    };
    for (const p of patterns) {
      const got = (await drain(ch, qs[p], expect[p].length)).map((m) => m.content.toString());
      await sleep(20);
      const extra = await ch.get(qs[p], { noAck: true });
      t.same(got, expect[p], `pattern '${p}'`);
      t.equal(extra, false, `no extra message for '${p}'`);
    }
  });

  t.test('headers any/all', async (t) => {
    const x = uniq('x.headers');
    await ch.assertExchange(x, 'headers', { autoDelete: true });
    const qAll = (await ch.assertQueue('', { exclusive: true })).queue;
    const qAny = (await ch.assertQueue('', { exclusive: true })).queue;
    const qAllX = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(qAll, x, '', { 'x-match': 'all', format: 'pdf', type: 'report' });
    await ch.bindQueue(qAny, x, '', { 'x-match': 'any', format: 'pdf', type: 'log' });
    await ch.bindQueue(qAllX, x, '', { 'x-match': 'all-with-x', 'x-tenant': 'acme' });
    ch.publish(x, '', Buffer.from('m1'), { headers: { format: 'pdf', type: 'report' } });
    ch.publish(x, '', Buffer.from('m2'), { headers: { format: 'pdf' } });
    ch.publish(x, '', Buffer.from('m3'), { headers: { type: 'log', 'x-tenant': 'acme' } });
    ch.publish(x, '', Buffer.from('m4'), { headers: { other: 1 } });
    t.same((await drain(ch, qAll, 1)).map((m) => m.content.toString()), ['m1']);
    t.same((await drain(ch, qAny, 3)).map((m) => m.content.toString()), ['m1', 'm2', 'm3']);
    t.same((await drain(ch, qAllX, 1)).map((m) => m.content.toString()), ['m3']);
  });

  t.test('exchange-to-exchange bindings and cycles', async (t) => {
    const x1 = uniq('x.e2e1');
    const x2 = uniq('x.e2e2');
    await ch.assertExchange(x1, 'topic', { autoDelete: false });
    await ch.assertExchange(x2, 'fanout', { autoDelete: false });
    await ch.bindExchange(x2, x1, 'audit.#');
    await ch.bindExchange(x1, x2, '');  // a cycle: must not loop
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q, x2, '');
    ch.publish(x1, 'audit.login', Buffer.from('e2e'));
    ch.publish(x1, 'other', Buffer.from('no'));
    const got = await drain(ch, q, 1);
    await sleep(50);
    t.same(got.map((m) => m.content.toString()), ['e2e']);
    t.equal(await ch.get(q, { noAck: true }), false, 'delivered once despite the cycle');
    await ch.unbindExchange(x2, x1, 'audit.#');
    ch.publish(x1, 'audit.login', Buffer.from('after-unbind'));
    await sleep(50);
    t.equal(await ch.get(q, { noAck: true }), false, 'unbind stops routing');
    await ch.deleteExchange(x1);
    await ch.deleteExchange(x2);
  });

  t.test('alternate exchange takes unroutable messages', async (t) => {
    const ae = uniq('x.ae');
    const x = uniq('x.main');
    await ch.assertExchange(ae, 'fanout', { autoDelete: true });
    await ch.assertExchange(x, 'direct', { autoDelete: true, alternateExchange: ae });
    const qae = (await ch.assertQueue('', { exclusive: true })).queue;
    const qmain = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(qae, ae, '');
    await ch.bindQueue(qmain, x, 'known');
    ch.publish(x, 'known', Buffer.from('routed'));
    ch.publish(x, 'unknown', Buffer.from('alt'));
    t.same((await drain(ch, qmain, 1)).map((m) => m.content.toString()), ['routed']);
    t.same((await drain(ch, qae, 1)).map((m) => m.content.toString()), ['alt']);
  });

  t.test('sender-selected distribution: CC and BCC headers add routing keys, BCC is hidden', async (t) => {
    const x = uniq('x.cc');
    await ch.assertExchange(x, 'direct', { autoDelete: true });
    const qs: Record<string, string> = {};
    for (const k of ['to', 'cc', 'bcc', 'other']) {
      qs[k] = (await ch.assertQueue('', { exclusive: true })).queue;
      await ch.bindQueue(qs[k], x, k);
    }
    ch.publish(x, 'to', Buffer.from('memo'), { headers: { CC: ['cc'], BCC: ['bcc'], keep: 1 } });
    for (const k of ['to', 'cc', 'bcc']) {
      const [m] = await drain(ch, qs[k], 1);
      t.equal(m?.content.toString(), 'memo', `queue bound to '${k}' got it`);
      t.equal(m?.fields.routingKey, 'to', 'delivered with the original routing key');
      t.same(m?.properties.headers?.CC, ['cc'], 'CC stays');
      t.notOk(m && 'BCC' in (m.properties.headers ?? {}), 'BCC is removed');
      t.equal(m?.properties.headers?.keep, 1, 'other headers untouched');
    }
    await sleep(30);
    t.equal(await ch.get(qs.other, { noAck: true }), false, 'unrelated binding got nothing');
    // On the default exchange the extra keys are queue names.
    ch.sendToQueue(qs.to, Buffer.from('both'), { headers: { CC: [qs.other] } });
    t.equal((await drain(ch, qs.to, 1))[0]?.content.toString(), 'both');
    t.equal((await drain(ch, qs.other, 1))[0]?.content.toString(), 'both');
  });

  t.test('mandatory unroutable message comes back as basic.return', async (t) => {
    const x = uniq('x.mand');
    await ch.assertExchange(x, 'direct', { autoDelete: false });
    const returned = new Promise<{ code: number; text: string; body: string; key: string }>((r) =>
      ch.once('return', (m) => r({ code: m.fields.replyCode, text: m.fields.replyText, body: m.content.toString(), key: m.fields.routingKey })));
    ch.publish(x, 'nowhere', Buffer.from('back'), { mandatory: true, messageId: 'r1' });
    const r = await returned;
    t.same(r, { code: 312, text: 'NO_ROUTE', body: 'back', key: 'nowhere' });
    await ch.deleteExchange(x);
  });
});
