// Single active consumer for the Stream protocol (RabbitMQ 3.11+): subscriptions that share a
// vhost, a stream and a consumer name form a group, and only one of them gets messages.
//
// Which one: for a plain stream, the oldest member; for a partition of a super stream, member
// number (partition index mod group size), so that consumers of a super stream spread its
// partitions among themselves. A member is told with a consumer update (active true or false).
// When the designated member changes while another is active, the active one is first told to
// step down, and the new one is activated only once the old one has answered (it has finished
// with what it had and may have stored its offset), as RabbitMQ's coordinator does. An answer
// that never comes must not block the group for ever: after STEP_DOWN_TIMEOUT_MS the group goes on.
//
// This module is the group bookkeeping only; subscriptions.ts does the talking.

export interface SacMember {
  /** The group's decision for this member: deliver (true) or stay idle (false). */
  activate(active: boolean): void;
}

const STEP_DOWN_TIMEOUT_MS = 60_000;

interface Group {
  /** -1: a plain stream; otherwise the stream's index among its super stream's partitions */
  readonly partition: number;
  /** in the order they joined */
  readonly members: SacMember[];
  /** the member that was told to be active (and has not left or been told to stop since) */
  active: SacMember | null;
  /** told to step down, its answer not in yet: nobody else is activated meanwhile */
  steppingDown: SacMember | null;
  stepTimer: NodeJS.Timeout | null;
}

export function sacGroupKey(vhost: string, stream: string, name: string): string {
  return `${vhost}\u0000${stream}\u0000${name}`;
}

export class SacGroups {
  private readonly groups = new Map<string, Group>();

  /** A new member (a subscription made with single-active-consumer=true). */
  join(key: string, partition: number, m: SacMember): void {
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { partition, members: [], active: null, steppingDown: null, stepTimer: null };
      this.groups.set(key, g);
    }
    g.members.push(m);
    this.rebalance(g);
    // a newcomer that is not the one to deliver is told so (clients expect word either way); one
    // that will be, once the member stepping down has answered, hears then
    if (g.active !== m && this.designated(g) !== m) m.activate(false);
  }

  /** A member unsubscribed, or its connection or stream went. */
  leave(key: string, m: SacMember): void {
    const g = this.groups.get(key);
    if (g === undefined) return;
    const i = g.members.indexOf(m);
    if (i < 0) return;
    g.members.splice(i, 1);
    if (g.active === m) g.active = null;
    if (g.steppingDown === m) this.stepDone(g);
    if (g.members.length === 0) {
      this.groups.delete(key);
      return;
    }
    this.rebalance(g);
  }

  /** The member that was told to step down has answered. */
  steppedDown(key: string, m: SacMember): void {
    const g = this.groups.get(key);
    if (g === undefined || g.steppingDown !== m) return;
    this.stepDone(g);
    this.rebalance(g);
  }

  isActive(key: string, m: SacMember): boolean {
    return this.groups.get(key)?.active === m;
  }

  /** For management and tests: the groups, their members in order, and which is active. */
  snapshot(): Array<{ key: string; partition: number; members: SacMember[]; active: SacMember | null }> {
    return [...this.groups].map(([key, g]) => ({ key, partition: g.partition, members: [...g.members], active: g.active }));
  }

  private designated(g: Group): SacMember | null {
    const n = g.members.length;
    if (n === 0) return null;
    return g.members[g.partition < 0 ? 0 : g.partition % n];
  }

  private rebalance(g: Group): void {
    if (g.steppingDown !== null) return; // its answer (or the timeout) rebalances again
    const want = this.designated(g);
    if (g.active === want) return;
    const current = g.active;
    if (current !== null) {
      g.active = null;
      g.steppingDown = current;
      g.stepTimer = setTimeout(() => {
        g.stepTimer = null;
        if (g.steppingDown !== current) return;
        g.steppingDown = null;
        this.rebalance(g);
      }, STEP_DOWN_TIMEOUT_MS);
      g.stepTimer.unref();
      current.activate(false);
      return;
    }
    if (want === null) return;
    g.active = want;
    want.activate(true);
  }

  private stepDone(g: Group): void {
    g.steppingDown = null;
    if (g.stepTimer !== null) clearTimeout(g.stepTimer);
    g.stepTimer = null;
  }
}
