// An on-confirm shovel loses nothing when its destination is SIGKILLed and restarted several
// times and its source connection is closed from the management API: every message arrives at
// least once and the source queue ends empty.
//
// SHOVEL_CRASH_MESSAGES sets the count (the 100,000: SHOVEL_CRASH_MESSAGES=100000);
// the default (15,000) runs in about 20 s on a loaded CI machine.
import t from 'tap';
import { freePort, startBroker, tempDir, type RunningBroker } from '../helpers/broker';
import { api, enc } from '../helpers/http';
import { channel, confirmChannel, connect, sleep } from '../helpers/amqp';

const N = Number(process.env.SHOVEL_CRASH_MESSAGES ?? 15000);
const KILLS = 3;

type Status = { name: string; state: string; forwarded?: number; pending?: number };

async function status(a: RunningBroker): Promise<Status | undefined> {
  return ((await api(a, 'GET', '/api/shovels')).body as Status[]).find((s) => s.name === 'crash');
}

async function until(what: string, cond: () => Promise<boolean>, ms = 120000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

t.test(`on-confirm shovel of ${N} messages through destination kills and a closed source connection`, async (t) => {
  const a = await startBroker({ logLevel: 'warning' });
  const bPort = await freePort();
  const bDir = tempDir();
  // a fixed port: the shovel's dest-uri must find the restarted broker
  const startB = () => startBroker({ dataDir: bDir, logLevel: 'warning', extraArgs: ['--port', String(bPort)] });
  let b = await startB();
  t.teardown(async () => { await a.stop(); await b.stop(); });

  // source: N persistent messages numbered in their bodies
  const ca = await connect(a.url);
  const pch = await confirmChannel(ca);
  await pch.assertQueue('crash.src', { durable: true });
  const pad = Buffer.alloc(200, 0x2e);
  for (let i = 0; i < N; i++) {
    const body = Buffer.concat([Buffer.from(`${i}:`), pad]);
    if (!pch.sendToQueue('crash.src', body, { persistent: true })) await new Promise((r) => pch.once('drain', r));
    if (i % 5000 === 4999) await pch.waitForConfirms();
  }
  await pch.waitForConfirms();
  await ca.close();

  t.equal((await api(a, 'PUT', '/api/parameters/shovel/%2F/crash', { value: {
    'src-uri': 'amqp://', 'src-queue': 'crash.src', 'dest-uri': `amqp://guest:guest@127.0.0.1:${bPort}`, 'dest-queue': 'crash.dst',
    'ack-mode': 'on-confirm', 'reconnect-delay': 1, 'src-prefetch-count': 500,
  } })).status, 201);

  // kill the destination each time a share of the messages has gone through
  let lastForwarded = 0;
  for (let k = 0; k < KILLS; k++) {
    const goal = Math.floor((N * (k + 1)) / (KILLS + 2));
    await until(`${goal} forwarded`, async () => ((await status(a))?.forwarded ?? 0) >= goal);
    await b.kill();
    const st = await status(a);
    t.ok((st?.forwarded ?? 0) >= lastForwarded, `kill ${k + 1} at ${st?.forwarded} forwarded`);
    lastForwarded = st?.forwarded ?? 0;
    await sleep(200);
    b = await startB();
  }
  // the source connection closed by an operator: the shovel reconnects
  const goal = Math.floor((N * (KILLS + 1)) / (KILLS + 2));
  await until(`${goal} forwarded`, async () => ((await status(a))?.forwarded ?? 0) >= goal);
  // Right after the last kill the shovel may still be in its reconnect delay (it restarts both
  // of its connections after a failure, as RabbitMQ's does): wait for its source connection.
  type Listed = { name: string; client_properties: { connection_name?: string } };
  let src: Listed | undefined;
  await until('the source connection listed', async () => {
    const conns = (await api(a, 'GET', '/api/connections')).body as Listed[];
    src = conns.find((c) => c.client_properties.connection_name === 'Shovel crash');
    return src !== undefined;
  }, 15000).catch(() => undefined);
  t.ok(src, 'the source connection is listed');
  t.equal((await api(a, 'DELETE', `/api/connections/${enc(src!.name)}`)).status, 204);

  await until('the source queue empty and nothing pending', async () => {
    const q = (await api(a, 'GET', '/api/queues/%2F/crash.src')).body as { messages?: number };
    const st = await status(a);
    return q.messages === 0 && st?.state === 'running' && st.pending === 0;
  });

  // every message at least once at the destination
  const cb = await connect(b.url);
  const ch = await channel(cb);
  const total = (await ch.checkQueue('crash.dst')).messageCount;
  t.ok(total >= N, `${total} messages at the destination for ${N} sent (${total - N} duplicates)`);
  const seen = new Uint8Array(N);
  let got = 0;
  await ch.prefetch(2000);
  await new Promise<void>((resolve) => {
    void ch.consume('crash.dst', (m) => {
      if (!m) return;
      const i = Number(m.content.toString('latin1', 0, m.content.indexOf(0x3a)));
      seen[i] = 1;
      if (++got === total) resolve();
    }, { noAck: true });
  });
  let missing = 0;
  for (let i = 0; i < N; i++) if (seen[i] === 0) missing++;
  t.equal(missing, 0, 'no message lost');
  await cb.close();
});
