// Keeps the bindings of a federation link's upstream exchange (x-federation-upstream, bound to
// the upstream exchange) the same as the local federated exchange's, by (routing key,
// arguments). One per run of a link: a run that ended cannot touch the next run's state.
//
// Bindings travel like messages, with a hop count, as RabbitMQ's plugin does it: each binding
// made upstream carries `x-bound-from` (newest first: cluster-name, vhost, exchange, hops left).
// A local binding goes up with max-hops; a binding that a downstream link made here goes on
// with one hop less (at most max-hops), and not at all when none is left. Without the count, a
// binding would chase itself around a ring of federated exchanges and never go away.
import type { Binding } from '../../broker/exchange';
import type { ClientChannel } from '../../client';
import { type FieldTable, type FieldValue, Typed } from '../../protocol';

export interface MirrorOrigin {
  clusterName: string;
  vhost: string;
  exchange: string;
  maxHops: number;
}

const plain = (v: FieldValue | undefined) => (v instanceof Typed ? v.value : v);

/** The arguments to bind upstream with, or null when the binding has no hop left. */
export function upstreamArgs(b: Binding, o: MirrorOrigin): FieldTable | null {
  const prior = plain(b.args['x-bound-from']);
  let hops = o.maxHops;
  if (Array.isArray(prior) && prior.length > 0) {
    const last = plain(prior[0]) as FieldTable | undefined;
    const h = plain(last?.hops);
    const prev = typeof h === 'number' ? h : typeof h === 'bigint' ? Number(h) : 0;
    hops = Math.min(prev - 1, o.maxHops);
  }
  if (hops <= 0) return null;
  const entry: FieldTable = { 'cluster-name': o.clusterName, vhost: o.vhost, exchange: o.exchange, hops };
  return { ...b.args, 'x-bound-from': [entry, ...(Array.isArray(prior) ? prior : [])] as FieldValue[] };
}

// A remote bind that takes this long is a link that no longer works.
const STALL_MS = 15_000;

export class BindingMirror {
  private readonly bound = new Map<string, { routingKey: string; args: FieldTable }>();
  private busySince = 0;

  constructor(private readonly ch: ClientChannel, private readonly internalX: string, private readonly upstreamX: string,
    private readonly local: () => readonly Binding[], private readonly origin: MirrorOrigin) {}

  /** One pass; resolves at once while the previous pass is still running (throws if it stalled). */
  async sync(): Promise<void> {
    if (this.busySince !== 0) {
      if (Date.now() - this.busySince > STALL_MS) throw new Error('binding the upstream exchange stalled');
      return;
    }
    this.busySince = Date.now();
    try {
      const want = new Map<string, { routingKey: string; args: FieldTable }>();
      for (const b of this.local()) {
        const args = upstreamArgs(b, this.origin);
        if (args !== null) want.set(`${b.routingKey}\0${b.argsKey}`, { routingKey: b.routingKey, args });
      }
      for (const [k, b] of want) {
        if (this.bound.has(k)) continue;
        await this.ch.bindExchange(this.internalX, this.upstreamX, b.routingKey, b.args);
        this.bound.set(k, b);
      }
      for (const [k, b] of [...this.bound]) {
        if (want.has(k)) continue;
        await this.ch.unbindExchange(this.internalX, this.upstreamX, b.routingKey, b.args);
        this.bound.delete(k);
      }
    } finally {
      this.busySince = 0;
    }
  }
}
