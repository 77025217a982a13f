// An idle classic queue holds no storage (issue 11): its logs, lane stores, direct delivery and
// delivered marks are built when a message first arrives (or a tool browses it), and at once
// when its directory exists on disk, so that what a restart finds is recovered and counted
// before anything asks; storage that only ever served direct deliveries is given back when the
// last consumer leaves. Tested on ClassicQueue itself, without a broker.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClassicQueue } from '../../src/broker/classic-queue';
import { newMessage } from '../../src/broker/message';
import { parseQueueArgs } from '../../src/broker/queue-args';
import type { FieldTable } from '../../src/protocol';
import type { GetResult, QueueConsumer, QueueHost } from '../../src/broker/queue';
import type { MessageRef } from '../../src/broker/message-ref';
import { tempDir } from '../helpers/broker';

const host: QueueHost = { deadLetter: () => undefined, queueUnused: () => undefined };

function queue(dir: string, opts: { durable?: boolean; args?: FieldTable } = {}): ClassicQueue {
  const args = opts.args ?? {};
  return new ClassicQueue({
    name: 'q', vhost: '/', durable: opts.durable ?? true, exclusiveOwner: null, autoDelete: false,
    rawArgs: args, args: parseQueueArgs('q', '/', args), dir, host,
  });
}

const msg = (body: string) => newMessage('', 'q', Buffer.alloc(0), Buffer.from(body), true, null);
const getResult = (): GetResult => ({ ref: 0, rec: undefined, redelivered: false, count: 0 });

t.test('a declared queue opens no log until a message arrives', async (t) => {
  const dir = path.join(tempDir(), 'q');
  const q = queue(dir);
  t.same(q.logs(), [], 'no log behind a queue nobody used');
  t.equal(q.messageCount, 0);
  t.equal(q.readyBytes, 0);
  t.equal(q.purge(), 0);
  t.notOk(q.get(false, getResult()), 'basic.get on it finds nothing');
  t.same(q.logs(), [], 'and still opens nothing');
  t.notOk(fs.existsSync(dir), 'nothing on disk');
  q.enqueue(msg('a'), 0, null);
  t.equal(q.logs().length, 1, 'the first message opened the log');
  t.equal(q.messageCount, 1);
  await q.close();
});

t.test('a queue whose directory exists is recovered at once; one without stays closed after a restart', async (t) => {
  const root = tempDir();
  const used = path.join(root, 'used');
  const idle = path.join(root, 'idle');
  const q1 = queue(used);
  const q2 = queue(idle);
  q1.enqueue(msg('a'), 0, null);
  q1.enqueue(msg('b'), 0, null);
  await q1.close();
  await q2.close();
  t.notOk(fs.existsSync(idle), 'closing an idle queue wrote nothing');
  const r1 = queue(used);
  const r2 = queue(idle);
  t.equal(r1.logs().length, 1, 'the used queue opened its log at construction');
  t.equal(r1.messageCount, 2, 'and counts what it holds before anything asks');
  t.same(r2.logs(), [], 'the idle one did not');
  const out = getResult();
  t.ok(r1.get(true, out));
  t.equal(out.rec?.body.toString(), 'a');
  await r1.close();
  await r2.close();
});

t.test('browsing opens the storage; a priority queue opens the lanes it needs', async (t) => {
  const q = queue(path.join(tempDir(), 'q'), { durable: false, args: { 'x-max-priority': 5 } });
  t.same(q.logs(), []);
  const b = q.browseLog(0);
  t.equal(b?.nextOffset, undefined, 'a priority queue has no lane 0 before a message of priority 0');
  q.enqueue(msg('hi'), 3, null);
  t.equal(q.logs().length, 1, 'one lane for priority 3');
  t.equal(q.browseLog(3)?.nextOffset, 1);
  q.delete();
  t.same(q.logs(), [], 'deleted');
});

function consumer(delivered: MessageRef[]): QueueConsumer {
  return {
    tag: 'c', noAck: false, priority: 0, exclusive: false, prefetch: 0, args: {},
    hasCredit: () => true,
    deliver: (_q, ref) => { delivered.push(ref); },
    cancelByServer: () => undefined,
  };
}

t.test('storage used only for direct deliveries is given back when the last consumer leaves', async (t) => {
  const q = queue(path.join(tempDir(), 'q'), { durable: false });
  const got: MessageRef[] = [];
  const c = consumer(got);
  q.addConsumer(c);
  q.enqueue(msg('direct'), 0, null);
  t.equal(got.length, 1, 'delivered directly');
  t.equal(q.logs().length, 1, 'the storage is open meanwhile');
  t.equal(q.logs()[0].nextOffset, 0, 'and its log was never written');
  q.removeConsumer(c);
  t.equal(q.logs().length, 1, 'kept while the delivery is unacked');
  q.ack(got[0]);
  t.same(q.logs(), [], 'given back once acked with no consumer left');
  q.addConsumer(c);
  q.enqueue(msg('again'), 0, null);
  t.equal(got.length, 2, 'reopened for the next message');
  q.ack(got[1]);
  q.removeConsumer(c);
  t.same(q.logs(), [], 'given back again when the consumer leaves');
});

t.test('a queue whose log was written keeps its storage', async (t) => {
  const q = queue(path.join(tempDir(), 'q'), { durable: false });
  q.enqueue(msg('logged'), 0, null); // no consumer: it goes to the log
  const got: MessageRef[] = [];
  const c = consumer(got);
  q.addConsumer(c);
  q.dispatchNow();
  t.equal(got.length, 1);
  q.ack(got[0]);
  q.removeConsumer(c);
  t.equal(q.logs().length, 1, 'kept: reopening a log with files is not free');
  t.equal(q.messageCount, 0);
  q.delete();
});
