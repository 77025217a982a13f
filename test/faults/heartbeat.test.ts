// Heartbeats (issue 11): sent at half the negotiated interval, as RabbitMQ does, and a client
// silent for two intervals is closed, for any interval from 1 s up and any number of
// connections, all on one timer wheel. Before, connections were checked once a second, so a
// client with a 1 s heartbeat got its first heartbeat after ~1.5 s and dropped at random.
import t from 'tap';
import { startBroker } from '../helpers/broker';
import { RawConn } from '../helpers/raw-amqp';
import { Heartbeats, type HeartbeatPeer, SLOT_MS } from '../../src/server/heartbeat-wheel';

// ---- the wheel alone, on a fake clock ----------------------------------------------------------

class FakePeer implements HeartbeatPeer {
  bytesWritten = 0;
  receivingPaused = false;
  sent: number[] = [];
  timedOutAt = -1;
  constructor(readonly heartbeat: number, public lastRecv: number, private readonly clock: () => number) {}
  sendHeartbeat(): void { this.sent.push(this.clock()); this.bytesWritten += 8; }
  heartbeatTimedOut(): void { this.timedOutAt = this.clock(); }
}

function fakeWorld() {
  let now = 1_000_000;
  const hb = new Heartbeats(() => now, true);
  return {
    hb,
    get now() { return now; },
    run(ms: number, each?: (now: number) => void) {
      const end = now + ms;
      while (now < end) { now += 5; each?.(now); hb.wheel.advance(); }
    },
  };
}

t.test('wheel: heartbeat 1 s, a silent client: sends every 0.5 s, closes after 2 s', async (t) => {
  const w = fakeWorld();
  const p = new FakePeer(1, w.now, () => w.now);
  const t0 = w.now;
  w.hb.start(p);
  w.run(3000);
  t.same(p.sent.map((x) => x - t0), [500, 1000, 1500], 'heartbeats at 0.5, 1.0, 1.5 s');
  t.equal(p.timedOutAt - t0, 2000, 'closed at 2 s');
  t.equal(w.hb.wheel.size, 0, 'its entry is gone');
});

t.test('wheel: a client that talks stays; our own traffic replaces heartbeats', async (t) => {
  const w = fakeWorld();
  const p = new FakePeer(1, w.now, () => w.now);
  const t0 = w.now;
  w.hb.start(p);
  w.run(10_000, (now) => {
    if ((now - t0) % 300 === 0) p.lastRecv = now;                        // the client's heartbeats
    if (now - t0 < 5000 && (now - t0) % 100 === 0) p.bytesWritten += 50; // deliveries
  });
  t.equal(p.timedOutAt, -1, 'never closed');
  t.ok(p.sent.every((x) => x - t0 >= 5000), 'no heartbeat while other frames went out');
  t.ok(p.sent.length >= 9 && p.sent.length <= 10, `then every 0.5 s (${p.sent.length} in 5 s)`);
});

t.test('wheel: any interval from 1 s up, thousands of connections, one timer', async (t) => {
  const w = fakeWorld();
  const peers: FakePeer[] = [];
  for (const h of [1, 2, 5, 30, 60, 600, 65535]) {
    for (let i = 0; i < 1500; i++) { const p = new FakePeer(h, w.now, () => w.now); peers.push(p); w.hb.start(p); }
  }
  t.equal(w.hb.connections, peers.length);
  const t0 = w.now;
  w.run(130_000, (now) => { if (now % 1000 === 0) for (const p of peers) if (p.heartbeat !== 60) p.lastRecv = now; });
  for (const h of [1, 2, 5, 30, 600, 65535]) {
    const ps = peers.filter((p) => p.heartbeat === h);
    t.ok(ps.every((p) => p.timedOutAt === -1), `heartbeat ${h}: a talking client is kept`);
    const first = ps[0].sent[0] - t0;
    if (h * 500 <= 130_000) t.ok(Math.abs(first - h * 500) <= SLOT_MS, `heartbeat ${h}: first sent after ${first} ms`);
    else t.equal(ps[0].sent.length, 0, `heartbeat ${h}: nothing to send yet`);
  }
  const silent = peers.filter((p) => p.heartbeat === 60);
  t.ok(silent.every((p) => Math.abs(p.timedOutAt - t0 - 120_000) <= SLOT_MS), 'heartbeat 60: the silent ones closed at 120 s');
  t.ok(silent.every((p) => p.sent.length === 3), 'after heartbeats at 30, 60 and 90 s');
});

// ---- against the broker, over TCP ----------------------------------------------------------------

t.test('broker: a raw client with heartbeat=1', async (t) => {
  const b = await startBroker();
  t.teardown(() => b.stop());
  const open = () => RawConn.open(b.port, { tuneOk: (tn) => ({ channelMax: tn.channelMax, frameMax: tn.frameMax, heartbeat: 1 }) });

  t.test('receives its first heartbeat within 0.6 s, then one every 0.5 s', async (t) => {
    const c = await open();
    const openOk = c.frames.find((f) => f.method?.name === 'connection.open-ok')!.at;
    const keep = setInterval(() => c.heartbeat(), 300);
    await new Promise((r) => setTimeout(r, 3100));
    clearInterval(keep);
    const at = c.frames.filter((f) => f.type === 8).map((f) => f.at - openOk);
    t.ok(at.length >= 5, `${at.length} heartbeats in 3.1 s: ${at.join(' ')} ms after open-ok`);
    t.ok(at[0] >= 400 && at[0] <= 600, `first after ${at[0]} ms`);
    for (let i = 1; i < at.length; i++) t.ok(at[i] - at[i - 1] >= 400 && at[i] - at[i - 1] <= 650, `then ${at[i] - at[i - 1]} ms later`);
    t.notOk(c.closed, 'a client that sends heartbeats stays connected');
    c.destroy();
  });

  t.test('a silent client is closed after about 2 s', async (t) => {
    const c = await open();
    const openOk = c.frames.find((f) => f.method?.name === 'connection.open-ok')!.at;
    await c.whenClosed;
    const after = c.closedAt - openOk;
    t.ok(after >= 1950 && after <= 2300, `closed ${after} ms after open-ok (two 1 s intervals)`);
    t.ok(b.logs.some((l) => /missed heartbeats from client, timeout: 1s/.test(l)), 'the broker says why');
  });

  t.test('1,000 connections with heartbeat=1', async (t) => {
    const conns: RawConn[] = [];
    let talking = conns;
    // Every connection talks while the others are being opened (that takes a few seconds).
    const keep = setInterval(() => { for (const c of talking) c.heartbeat(); }, 300);
    const opening = Date.now();
    for (let i = 0; i < 1000; i += 50) {
      conns.push(...await Promise.all(Array.from({ length: 50 }, () => open())));
    }
    t.comment(`1,000 connections opened in ${Date.now() - opening} ms`);
    // Half of them keep talking; the other half go silent.
    talking = conns.slice(0, 500);
    const silent = conns.slice(500);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    clearInterval(keep);
    const closedSilent = silent.filter((c) => c.closed);
    t.equal(closedSilent.length, 500, 'every silent connection was closed');
    const times = closedSilent.map((c) => c.closedAt - t0).sort((a, b) => a - b);
    t.ok(times[times.length - 1] <= 3000, `the last one ${times[times.length - 1]} ms after the silence began`);
    t.equal(talking.filter((c) => c.closed).length, 0, 'no talking connection was closed');
    const counts = talking.map((c) => c.frames.filter((f) => f.type === 8 && f.at >= t0).length);
    // 6 are due at one every 0.5 s; one sent each second (the old 1 s check) would give 3 at most.
    // 4 leaves room for a loaded machine without letting that through.
    t.ok(Math.min(...counts) >= 4, `each talking connection got >= 4 heartbeats in 3 s (min ${Math.min(...counts)})`);
    for (const c of conns) c.destroy();
  });
});
