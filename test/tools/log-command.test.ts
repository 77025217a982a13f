// `warren log verify|dump|replay` against the data directory of a real broker (spawned from
// dist/: run `npm run build` first), and replay into a second running broker.
import t from 'tap';
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as amqp from 'amqplib';
import { MAIN, startBroker, type RunningBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, sleep } from '../helpers/amqp';
import { durableQueueDir } from '../../src/store/data-dir';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function warren(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'log', ...args], { timeout: 20000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

function queueDir(dataDir: string, queue: string, vhost = '/'): string {
  return durableQueueDir(dataDir, vhost, queue);
}

/** Byte position of each record in a segment file, from the length fields. */
function positions(file: string): number[] {
  const b = fs.readFileSync(file);
  const out: number[] = [];
  for (let p = 0; p + 4 <= b.length; p += b.readUInt32LE(p) + 4) out.push(p);
  return out;
}

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** Every message now in a queue, with basic.get (auto-ack), until it is empty. */
async function getAll(ch: amqp.Channel, queue: string): Promise<amqp.GetMessage[]> {
  const got: amqp.GetMessage[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return got;
    got.push(m);
  }
}

const N = 40;
let src: RunningBroker;
let dataDir: string;

t.before(async () => {
  // Source broker: 40 persistent messages in three batches 60 ms apart (for time ranges), three of
  // them consumed and acked; a priority queue with two lanes. Then a clean stop.
  src = await startBroker({ logLevel: 'warning' });
  dataDir = src.dataDir;
  const c = await connect(src.url);
  const ch = await confirmChannel(c);
  await ch.assertExchange('tools.x', 'direct', { durable: true });
  await ch.assertQueue('tools.q', { durable: true });
  await ch.bindQueue('tools.q', 'tools.x', 'k');
  await ch.assertQueue('tools.pq', { durable: true, arguments: { 'x-max-priority': 5 } });
  const publish = (i: number) =>
    ch.publish('tools.x', 'k', Buffer.from(`m${i}`), { persistent: true, messageId: `id-${i}`, contentType: 'text/plain', headers: { n: i } });
  for (const [a, b] of [[0, 20], [20, 30], [30, N]]) {
    for (let i = a; i < b; i++) publish(i);
    await ch.waitForConfirms();
    await sleep(60);
  }
  for (let i = 0; i < 5; i++) ch.sendToQueue('tools.pq', Buffer.from(`p${i}`), { persistent: true, priority: i < 2 ? 0 : 5 });
  await ch.waitForConfirms();
  const cons = await channel(c);
  for (let i = 0; i < 3; i++) {
    const m = await cons.get('tools.q', { noAck: false });
    if (m !== false) cons.ack(m);
  }
  await sleep(50);
  await c.close();
  await src.stop();
});

t.after(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

t.test('verify: a clean data directory is OK, with counts, and is not modified', async (t) => {
  const before = snapshot(dataDir);
  const all = await warren('verify', '--data-dir', dataDir);
  t.equal(all.code, 0, all.stderr);
  t.match(all.stdout, /^verify: OK: 2 queues, 3 logs, 3 segments, 45 records \(3 acked\), [\d.]+ (B|KiB); 0 errors, 0 warnings$/m);
  t.match(all.stdout, /^queue 'tools\.q' \(vhost '\/'\) lane 0: 1 segment, 40 records \(3 acked\), .*closed cleanly: OK/m);
  t.match(all.stdout, /^queue 'tools\.pq' \(vhost '\/'\) lane 5: 1 segment, 3 records/m);
  const one = await warren('verify', '--data-dir', dataDir, '--queue', 'tools.q');
  t.equal(one.code, 0);
  t.match(one.stdout, /verify: OK: 1 queue, 1 log, 1 segment, 40 records \(3 acked\)/);
  const json = await warren('verify', '--data-dir', dataDir, '--json');
  t.equal(JSON.parse(json.stdout).ok, true);
  t.same(snapshot(dataDir), before, 'nothing changed');
  const missing = await warren('verify', '--data-dir', dataDir, '--queue', 'nope');
  t.equal(missing.code, 2);
  t.match(missing.stderr, /queue 'nope' \(vhost '\/'\) is not a durable queue/);
});

t.test('dump: offsets, time, exchange, routing key, properties, body size, acked', async (t) => {
  const d = await warren('dump', '--data-dir', dataDir, '--queue', 'tools.q', '--from', '2', '--to', '4', '--body');
  t.equal(d.code, 0, d.stderr);
  const lines = d.stdout.trim().split('\n');
  t.match(lines[0], /^# queue 'tools\.q' \(vhost '\/'\) lane 0: vhosts\/[0-9a-f]{24}\/queues\/[0-9a-f]{24}\/log$/);
  t.equal(lines.length, 4, 'header and three records');
  t.match(lines[1], /^offset=2 time=\d{4}-\d\d-\d\dT[\d:.]+Z exchange="tools\.x" routing_key="k" properties=\{.*\} body_size=2 persistent acked body="m2"$/);
  t.match(lines[2], /^offset=3 .* persistent unacked body="m3"$/);
  const props = JSON.parse(/properties=(\{.*\}) body_size/.exec(lines[3])![1]);
  t.same(props, { contentType: 'text/plain', headers: { n: 4 }, deliveryMode: 2, messageId: 'id-4' });

  const j = await warren('dump', '--data-dir', dataDir, '--queue', 'tools.q', '--json', '--limit', '5');
  const recs = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(recs.length, 5);
  t.match(recs[0], { queue: 'tools.q', vhost: '/', lane: 0, offset: 0, exchange: 'tools.x', routing_key: 'k', body_size: 2, acked: true, persistent: true });
  t.notOk('body' in recs[0], 'no body without --body');

  const pq = await warren('dump', '--data-dir', dataDir, '--queue', 'tools.pq');
  t.match(pq.stdout, /# queue 'tools\.pq' \(vhost '\/'\) lane 0: .*\n(offset=\d .*\n){2}# queue 'tools\.pq' \(vhost '\/'\) lane 5: .*\n(offset=\d .*\n){3}$/);
  const ambiguous = await warren('dump', '--data-dir', dataDir, '--queue', 'tools.pq', '--from', '1');
  t.equal(ambiguous.code, 2);
  t.match(ambiguous.stderr, /2 priority lanes \(0, 5\), each with its own offsets: choose one with --lane/);
  const lane = await warren('dump', '--data-dir', dataDir, '--queue', 'tools.pq', '--lane', '5', '--from', '1', '--body');
  t.match(lane.stdout, /offset=1 .*body="p3"\noffset=2 .*body="p4"\n$/);
});

t.test('replay: exactly the selected range reaches a second broker, with confirms', async (t) => {
  const dst = await startBroker({ logLevel: 'warning' });
  t.teardown(async () => {
    await dst.stop();
    fs.rmSync(dst.dataDir, { recursive: true, force: true });
  });
  const c = await connect(dst.url);
  t.teardown(() => c.close().catch(() => undefined));
  const ch = await channel(c);
  await ch.assertExchange('tools.x', 'direct', { durable: true });
  for (const q of ['dest.q', 'dest2.q', 'dest3.q']) await ch.assertQueue(q, { durable: true });
  await ch.bindQueue('dest.q', 'tools.x', 'k');

  // offsets 10..19 to each record's original exchange and routing key
  const r1 = await warren('replay', '--data-dir', dataDir, '--queue', 'tools.q', '--from', '10', '--to', '19', '--url', dst.url);
  t.equal(r1.code, 0, r1.stderr);
  t.match(r1.stdout, /^replay: 10 messages replayed from queue 'tools\.q' \(vhost '\/'\), offsets 10\.\.19 to exchange 'tools\.x' at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/?; all confirmed$/m);
  const got = await getAll(ch, 'dest.q');
  t.same(got.map((m) => m.content.toString()), Array.from({ length: 10 }, (_, i) => `m${10 + i}`), 'exactly offsets 10..19, in order');
  t.equal(got[0].properties.messageId, 'id-10', 'properties are replayed verbatim');
  t.same(got[0].properties.headers, { n: 10 });
  t.equal(got[0].properties.deliveryMode, 2);
  t.equal(got[0].fields.exchange, 'tools.x');

  // a time range (the second batch) to another exchange and routing key
  const d = await warren('dump', '--data-dir', dataDir, '--queue', 'tools.q', '--from', '20', '--to', '29', '--json');
  const ts = d.stdout.trim().split('\n').map((l) => JSON.parse(l).timestamp as number);
  const since = new Date(Math.min(...ts)).toISOString();
  const until = String(Math.max(...ts));
  const r2 = await warren('replay', '--data-dir', dataDir, '--queue', 'tools.q', '--since', since, '--until', until,
    '--exchange', '', '--routing-key', 'dest2.q', '--url', dst.url);
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.stdout, /replay: 10 messages replayed .* to exchange '' /);
  t.same((await getAll(ch, 'dest2.q')).map((m) => m.content.toString()), Array.from({ length: 10 }, (_, i) => `m${20 + i}`), 'exactly the second batch');

  // only what was never acked (m0..m2 were)
  const r3 = await warren('replay', '--data-dir', dataDir, '--queue', 'tools.q', '--to', '4', '--only-unacked',
    '--exchange', '', '--routing-key', 'dest3.q', '--url', dst.url);
  t.equal(r3.code, 0, r3.stderr);
  t.match(r3.stdout, /2 messages replayed .*; 3 acked skipped/);
  t.same((await getAll(ch, 'dest3.q')).map((m) => m.content.toString()), ['m3', 'm4']);

  // unroutable messages come back (mandatory) and are not counted as replayed
  const r4 = await warren('replay', '--data-dir', dataDir, '--queue', 'tools.q', '--to', '1', '--routing-key', 'nowhere', '--url', dst.url);
  t.equal(r4.code, 1);
  t.match(r4.stdout, /replay: 0 messages replayed .*; 2 unroutable \(returned\)/);
  // a missing exchange is refused before anything is sent
  const r5 = await warren('replay', '--data-dir', dataDir, '--queue', 'tools.q', '--exchange', 'no.such.x', '--url', dst.url);
  t.equal(r5.code, 2);
  t.match(r5.stderr, /exchange 'no\.such\.x'.*404/);

  // verify works on the data directory of the running destination broker
  const v = await warren('verify', '--data-dir', dst.dataDir);
  t.equal(v.code, 0, v.stdout);
  t.match(v.stdout, /verify: OK: 3 queues, 3 logs, 3 segments, 22 records/);
  t.match(v.stdout, /open by a broker or not closed cleanly: OK/);
});

t.test('verify names the segment file, byte position and offset of a damaged record; exit code 1', async (t) => {
  const seg = path.join(queueDir(dataDir, 'tools.q'), 'log', '00000000000000000000.log');
  const pos = positions(seg);
  t.equal(pos.length, N);
  const b = fs.readFileSync(seg);
  b[pos[25] + 50] ^= 0x01; // one bit in the middle of the (open) segment
  fs.writeFileSync(seg, b);
  const before = snapshot(dataDir);
  const v = await warren('verify', '--data-dir', dataDir);
  t.equal(v.code, 1);
  const rel = path.relative(dataDir, seg);
  t.match(v.stdout, `error: queue 'tools.q' (vhost '/') lane 0: ${rel} byte ${pos[25]} offset 25: CRC mismatch in record at offset 25`);
  t.match(v.stdout, /^queue 'tools\.q' \(vhost '\/'\) lane 0: 1 segment, 39 records .*: CORRUPT \(1 error, 0 warnings, 1 record lost\)$/m);
  t.match(v.stdout, /^verify: CORRUPT: .* 1 error, 0 warnings, 1 record lost$/m);
  t.equal(v.stdout.split('\n').filter((l) => l.startsWith('error:')).length, 1, 'one line for the one problem');
  t.same(snapshot(dataDir), before, 'verify changed nothing');

  // dump shows the records around it and reports the damage on stderr
  const d = await warren('dump', '--data-dir', dataDir, '--queue', 'tools.q', '--from', '24', '--to', '26');
  t.equal(d.code, 1);
  t.same(d.stdout.trim().split('\n').slice(1).map((l) => /^offset=(\d+)/.exec(l)![1]), ['24', '26']);
  t.match(d.stderr, `byte ${pos[25]} offset 25: CRC mismatch`);
  // replay skips it and says so
  const r = await warren('replay', '--data-dir', dataDir, '--queue', 'tools.q', '--from', '24', '--to', '26', '--dry-run');
  t.equal(r.code, 1);
  t.match(r.stdout, /replay \(dry run\): 2 messages would be replayed .*1 corruption problem/);
});

t.test('a torn tail in the newest segment is reported as such, not as corruption', async (t) => {
  const seg = path.join(queueDir(dataDir, 'tools.pq'), 'log-p5', '00000000000000000000.log');
  fs.truncateSync(seg, fs.statSync(seg).size - 5);
  const v = await warren('verify', '--data-dir', dataDir, '--queue', 'tools.pq');
  t.equal(v.code, 0, v.stdout);
  t.match(v.stdout, /^warning: queue 'tools\.pq' \(vhost '\/'\) lane 5: .*log-p5\/00000000000000000000\.log byte \d+ offset 2: torn tail: \d+ bytes at byte \d+ \(.*\) would be truncated at recovery; last complete record is offset 1$/m);
  t.match(v.stdout, /verify: OK: .* 0 errors, 1 warning$/m);
});
