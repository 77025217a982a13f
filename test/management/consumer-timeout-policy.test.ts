// A consumer-timeout policy gives the queues it matches their own delivery acknowledgement
// timeout, as RabbitMQ's consumer-timeout policy key does; other queues keep the broker's.
import t from 'tap';
import { startBroker } from '../helpers/broker';
import { channel, connect, sleep } from '../helpers/amqp';

const AUTH = 'Basic ' + Buffer.from('guest:guest').toString('base64');

t.test('a consumer-timeout policy closes a channel holding a delivery from its queue too long', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const put = await fetch(`http://127.0.0.1:${b.httpPort}/api/policies/%2F/fast-ack`, {
    method: 'PUT', headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ pattern: '^ct\\.fast$', 'apply-to': 'queues', definition: { 'consumer-timeout': 500 } }),
  });
  t.equal(put.status, 201);
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const results: Record<string, string | null> = {};
  for (const q of ['ct.fast', 'ct.slow']) {
    const ch = await channel(c);
    await ch.assertQueue(q, { durable: false });
    ch.sendToQueue(q, Buffer.from('x'));
    results[q] = null;
    ch.on('error', (e: Error) => { results[q] = e.message; });
    await ch.prefetch(1);
    await ch.consume(q, () => undefined); // never acks
  }
  await sleep(1500);
  t.match(results['ct.fast'], /PRECONDITION_FAILED - delivery acknowledgement on channel \d+ timed out. Timeout value used: 500 ms/, 'the policy queue: 406 after 500 ms');
  t.equal(results['ct.slow'], null, "a queue without the policy keeps the broker's 30 minutes");
});
