// Single active consumer groups (src/stream/sac-groups.ts) on their own: who is active, who is
// told what and when, for plain streams and for the partitions of a super stream.
import t from 'tap';
import { SacGroups, type SacMember } from '../../src/stream/sac-groups';

// A member that records what it was told, in order, in one log shared by all members.
function members(log: string[], ...names: string[]): Record<string, SacMember> {
  const out: Record<string, SacMember> = {};
  for (const n of names) out[n] = { activate: (a) => { log.push(`${n}:${a ? 'on' : 'off'}`); } };
  return out;
}

t.test('a plain stream: the oldest member is active; the next takes over when it leaves', async (t) => {
  const g = new SacGroups();
  const log: string[] = [];
  const m = members(log, 'a', 'b', 'c');
  g.join('k', -1, m.a);
  g.join('k', -1, m.b);
  g.join('k', -1, m.c);
  t.same(log, ['a:on', 'b:off', 'c:off'], 'the first is activated, newcomers are told they wait');
  log.length = 0;
  g.leave('k', m.b);
  t.same(log, [], 'a waiting member leaving changes nothing');
  g.leave('k', m.a);
  t.same(log, ['c:on'], 'the active one leaving activates the next in line');
  t.ok(g.isActive('k', m.c));
  g.leave('k', m.c);
  t.same(g.snapshot(), [], 'an empty group is gone');
});

t.test('groups are independent: another key has its own active member', async (t) => {
  const g = new SacGroups();
  const log: string[] = [];
  const m = members(log, 'a', 'b');
  g.join('k1', -1, m.a);
  g.join('k2', -1, m.b);
  t.same(log, ['a:on', 'b:on']);
});

t.test('a super stream partition: member (index mod size) is active, and the old one steps down first', async (t) => {
  const g = new SacGroups();
  const log: string[] = [];
  const m = members(log, 'a', 'b', 'c');
  g.join('p1', 1, m.a);
  t.same(log, ['a:on'], 'alone: active whatever the index');
  log.length = 0;
  g.join('p1', 1, m.b); // 1 % 2 = 1: b
  t.same(log, ['a:off'], 'a is asked to step down; b is not told anything yet');
  t.notOk(g.isActive('p1', m.a));
  t.notOk(g.isActive('p1', m.b), 'nobody is active while a has not answered');
  log.length = 0;
  g.steppedDown('p1', m.b);
  t.same(log, [], 'an answer from a member that was not stepping down is ignored');
  g.steppedDown('p1', m.a);
  t.same(log, ['b:on'], 'a answered: b is activated');
  log.length = 0;
  g.join('p1', 1, m.c); // 1 % 3 = 1: still b
  t.same(log, ['c:off'], 'b stays; the newcomer waits');
  log.length = 0;
  g.leave('p1', m.a); // [b, c]: 1 % 2 = 1: c
  t.same(log, ['b:off'], 'membership changed the choice: b steps down');
  g.leave('p1', m.b);
  t.same(log, ['b:off', 'c:on'], 'the member stepping down left instead of answering: c goes on');
});

t.test('a member told to step down that never answers does not block the group for ever', async (t) => {
  const clock = t.capture(globalThis, 'setTimeout', ((fn: () => void) => {
    timers.push(fn);
    return { unref() { return this; } } as unknown as NodeJS.Timeout;
  }) as typeof setTimeout);
  const timers: Array<() => void> = [];
  const g = new SacGroups();
  const log: string[] = [];
  const m = members(log, 'a', 'b');
  g.join('p0', 1, m.a);
  g.join('p0', 1, m.b);
  t.same(log, ['a:on', 'a:off']);
  t.equal(timers.length, 1, 'a timeout was set');
  timers[0]();
  t.same(log, ['a:on', 'a:off', 'b:on'], 'at the timeout b is activated');
  clock.restore?.();
});
