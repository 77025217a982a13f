// The confirm tracker on its own: sequence order, coalesced multiple acks, nacks for refused
// publishes and for batches whose sync failed, and nothing sent before a batch's syncs settle.
import t from 'tap';
import { ConfirmTracker } from '../../src/server/confirm-tracker';
import type { SegmentedLog } from '../../src/store';

interface Sent { seq: number; multiple: boolean; ack: boolean }

// A log stand-in whose whenSynced promises the test settles by hand.
function fakeLog(): { log: SegmentedLog; settle(ok: boolean): void; asked: number[] } {
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const asked: number[] = [];
  const log = {
    whenSynced(offset: number): Promise<void> {
      asked.push(offset);
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
  } as unknown as SegmentedLog;
  return {
    log, asked,
    settle(ok: boolean) {
      for (const p of pending.splice(0)) if (ok) p.resolve(); else p.reject(new Error('EIO'));
    },
  };
}

function tracker(): { c: ConfirmTracker; sent: Sent[]; failures: Error[] } {
  const sent: Sent[] = [];
  const failures: Error[] = [];
  const c = new ConfirmTracker({ confirm: (seq, multiple, ack) => sent.push({ seq, multiple, ack }), syncFailed: (e) => failures.push(e) });
  return { c, sent, failures };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('a burst of transient publishes is one multiple ack', async (t) => {
  const { c, sent } = tracker();
  for (let i = 0; i < 640; i++) c.next();
  c.endOfChunk();
  t.same(sent, [{ seq: 640, multiple: true, ack: true }]);
  c.next();
  c.endOfChunk();
  t.same(sent[1], { seq: 641, multiple: false, ack: true }, 'a single publish gets a single ack');
});

t.test('refused publishes are nacked in place; the acks around them coalesce', async (t) => {
  const { c, sent } = tracker();
  for (let i = 1; i <= 10; i++) {
    const s = c.next();
    if (s === 4 || s === 5 || s === 9) c.refused(s);
  }
  c.endOfChunk();
  t.same(sent, [
    { seq: 3, multiple: true, ack: true },
    { seq: 4, multiple: false, ack: false },
    { seq: 5, multiple: false, ack: false },
    { seq: 8, multiple: true, ack: true },
    { seq: 9, multiple: false, ack: false },
    { seq: 10, multiple: false, ack: true },
  ]);
});

t.test('a durable batch waits for its sync; later batches wait behind it, in order', async (t) => {
  const { c, sent } = tracker();
  const a = fakeLog();
  c.next();
  c.sync.add(a.log, 7);
  c.next();
  c.sync.add(a.log, 8);
  c.endOfChunk();
  t.same(a.asked, [8], 'one wait per log, for the highest offset');
  c.next(); // transient, next read
  c.endOfChunk();
  await tick();
  t.same(sent, [], 'nothing before the sync');
  a.settle(true);
  await tick();
  await tick();
  t.same(sent, [{ seq: 3, multiple: true, ack: true }], 'both batches in one multiple ack once the first is durable');
});

t.test('a batch over several logs waits for all of them', async (t) => {
  const { c, sent } = tracker();
  const a = fakeLog();
  const b = fakeLog();
  c.next();
  c.sync.add(a.log, 1);
  c.sync.add(b.log, 5);
  c.endOfChunk();
  a.settle(true);
  await tick();
  t.same(sent, [], 'one log synced is not enough');
  b.settle(true);
  await tick();
  await tick();
  t.same(sent, [{ seq: 1, multiple: false, ack: true }]);
});

t.test('a failed sync nacks every publish of its batch and reports the failure', async (t) => {
  const { c, sent, failures } = tracker();
  const a = fakeLog();
  c.next();
  c.sync.add(a.log, 1);
  c.next();
  c.endOfChunk();
  c.next(); // a later, transient batch
  c.endOfChunk();
  a.settle(false);
  await tick();
  await tick();
  t.same(sent, [
    { seq: 1, multiple: false, ack: false },
    { seq: 2, multiple: false, ack: false },
    { seq: 3, multiple: false, ack: true },
  ]);
  t.equal(failures.length, 1);
});

t.test('after close, nothing is sent', async (t) => {
  const { c, sent } = tracker();
  const a = fakeLog();
  c.next();
  c.sync.add(a.log, 1);
  c.endOfChunk();
  c.close();
  a.settle(true);
  await tick();
  t.same(sent, []);
});
