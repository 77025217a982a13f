// Kill -9 the leader during confirmed publishing and acked consuming, several times in a row
// (CLUSTER_CYCLES, default 3; the 20 with CLUSTER_CYCLES=20 or bench/cluster/): a new
// leader takes over each time, no confirmed message is lost, duplicates are counted and printed
// with the failover times (SIGKILL to the first confirm on the new leader).
import t from 'tap';
import amqp from 'amqplib';
import { type Cluster, type Node, etcdAvailable, startCluster } from '../helpers/cluster';

const CYCLES = Number(process.env.CLUSTER_CYCLES ?? 3);
const Q = 'failover-q';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FailoverResult { confirmed: number; lost: number; duplicates: number; received: number; failoverMs: number[] }

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export function summary(r: FailoverResult): string {
  const f = r.failoverMs;
  return `failover cycles=${f.length} confirmed=${r.confirmed} lost=${r.lost} duplicates=${r.duplicates} ` +
    `failover_ms min=${Math.min(...f)} p50=${pct(f, 50)} p99=${pct(f, 99)} max=${Math.max(...f)}`;
}

export async function runFailover(c: Cluster, cycles: number, log: (s: string) => void): Promise<FailoverResult> {
  const confirmed = new Set<number>();
  const received = new Map<number, number>();
  let retry: number[] = [];
  let next = 0;
  let stop = false;
  let killedAt = 0;   // when SIGKILL was sent
  let deadAt = 0;     // when the process was gone: batches sent after that went to a new leader
  const failoverMs: number[] = [];

  const publisher = (async () => {
    while (!stop) {
      let conn: amqp.ChannelModel | null = null;
      try {
        const leader = await c.leader(60_000);
        conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${leader.port}`);
        conn.on('error', () => undefined);
        const ch = await conn.createConfirmChannel();
        ch.on('error', () => undefined);
        await ch.assertQueue(Q, { durable: true });
        while (!stop) {
          const batch = retry.length > 0 ? retry.splice(0, 200) : Array.from({ length: 100 }, () => next++);
          const sentAt = Date.now();
          try {
            for (const id of batch) ch.sendToQueue(Q, Buffer.from(String(id)), { persistent: true });
            await ch.waitForConfirms();
          } catch (e) {
            retry = batch.concat(retry); // not confirmed: publish again (a duplicate if it was stored)
            throw e;
          }
          for (const id of batch) confirmed.add(id);
          if (deadAt !== 0 && sentAt > deadAt) { failoverMs.push(Date.now() - killedAt); deadAt = 0; }
          await sleep(5);
        }
      } catch {
        await sleep(200);
      } finally {
        await conn?.close().catch(() => undefined);
      }
    }
  })();

  const onMessage = (ch: amqp.Channel) => (m: amqp.ConsumeMessage | null) => {
    if (m === null) return;
    const id = Number(m.content.toString());
    received.set(id, (received.get(id) ?? 0) + 1);
    ch.ack(m);
  };
  let consuming = true;
  const consumer = (async () => {
    while (consuming) {
      let conn: amqp.ChannelModel | null = null;
      try {
        const leader = await c.leader(60_000);
        conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${leader.port}`);
        conn.on('error', () => undefined);
        const closed = new Promise((r) => conn!.once('close', r));
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        await ch.assertQueue(Q, { durable: true });
        await ch.prefetch(200);
        await ch.consume(Q, onMessage(ch));
        while (consuming && await Promise.race([closed.then(() => false), sleep(200).then(() => true)]));
      } catch {
        await sleep(200);
      } finally {
        await conn?.close().catch(() => undefined);
      }
    }
  })();

  let victims: Node[] = [];
  for (let i = 0; i < cycles; i++) {
    // Everyone in sync, some traffic, then the leader dies.
    const until = Date.now() + 60_000;
    while ((await c.isr()).length < c.nodes.length && Date.now() < until) await sleep(200);
    const before = confirmed.size;
    while (confirmed.size < before + 500 && Date.now() < until) await sleep(50);
    const leader = await c.leader(60_000);
    killedAt = Date.now();
    await leader.kill();
    deadAt = Date.now();
    victims.push(leader);
    const newLeader = await c.leader(60_000, leader);
    // Its own deadline, from the kill: waiting for the ISR above may have used most of `until`.
    const failedOverBy = Date.now() + 60_000;
    while (deadAt !== 0 && Date.now() < failedOverBy) await sleep(50);
    log(`cycle ${i + 1}: killed ${leader.id}, new leader ${newLeader.id}, failover ${failoverMs[failoverMs.length - 1]} ms, confirmed ${confirmed.size}`);
    for (const v of victims) v.start(); // back as a follower: it catches up from the new leader
    victims = [];
  }
  stop = true;
  await publisher;
  // Drain: everything confirmed must arrive.
  const until = Date.now() + 30_000;
  const missing = () => { let n = 0; for (const id of confirmed) if (!received.has(id)) n++; return n; };
  while (missing() > 0 && Date.now() < until) await sleep(200);
  consuming = false;
  await consumer;
  let dups = 0;
  let total = 0;
  for (const n of received.values()) { total += n; if (n > 1) dups += n - 1; }
  return { confirmed: confirmed.size, lost: missing(), duplicates: dups, received: total, failoverMs };
}

t.test('kill -9 the leader during confirmed publishing: no confirmed message lost', { skip: etcdAvailable() ? false : 'no etcd binary' }, async (t) => {
  const c = await startCluster({ leaseTtl: 3 });
  t.teardown(() => c.close());
  try {
    const r = await runFailover(c, CYCLES, (s) => t.comment(s));
    t.comment(summary(r) + ' (lease TTL 3 s)');
    t.equal(r.failoverMs.length, CYCLES, 'a new leader confirmed publishes after every kill');
    t.ok(r.confirmed > 0, 'messages were confirmed');
    t.equal(r.lost, 0, 'no confirmed message lost');
  } catch (e) {
    t.comment(c.nodes.flatMap((n) => n.logs.slice(-30)).join('\n'));
    throw e;
  }
});
