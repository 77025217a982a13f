// Which exchanges and queues are federated, and their links: a policy with federation-upstream
// or federation-upstream-set makes an exchange or queue federated from the upstreams it names.
// The wanted links are recomputed twice a second (policies, upstream parameters, exchanges and
// queues all change the answer, and the broker has no single event for them) and the running
// ones started, restarted (their upstream changed) or removed to match.
import * as crypto from 'node:crypto';
import type { Broker } from '../../broker/broker';
import { appliedPolicy } from '../../broker/policy-apply';
import type { LinkEnv } from '../connect';
import { statusTime } from '../status';
import { ExchangeLink } from './exchange-link';
import { QueueLink } from './queue-link';
import { type UpstreamConfig, upstreamsOf } from './upstream';

const RECONCILE_MS = 500;

interface Wanted { kind: 'exchange' | 'queue'; vhost: string; name: string; upstream: UpstreamConfig }

export class FederationManager {
  private readonly links = new Map<string, { link: ExchangeLink | QueueLink; config: string; id: string }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly broker: Broker, private readonly env: LinkEnv) {}

  clusterName(): string {
    return this.broker.runtime.clusterName ?? this.env.node;
  }

  start(): void {
    this.reconcile();
    this.timer = setInterval(() => this.reconcile(), RECONCILE_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const all = [...this.links.values()];
    this.links.clear();
    await Promise.all(all.map((l) => l.link.stop()));
  }

  private wanted(): Wanted[] {
    const out: Wanted[] = [];
    const params = this.broker.runtime.parameters;
    if (params.list('federation-upstream').length === 0) return out;
    for (const [vhost, vh] of this.broker.vhosts) {
      const add = (kind: 'exchange' | 'queue', name: string, def: Record<string, unknown> | undefined) => {
        if (!def || (def['federation-upstream'] === undefined && def['federation-upstream-set'] === undefined)) return;
        for (const upstream of upstreamsOf(params, vhost, def)) out.push({ kind, vhost, name, upstream });
      };
      for (const x of vh.exchanges.values()) add('exchange', x.name, appliedPolicy(x)?.definition);
      for (const q of vh.queues.values()) add('queue', q.name, appliedPolicy(q)?.definition);
    }
    return out;
  }

  private reconcile(): void {
    const want = new Map<string, Wanted>();
    for (const w of this.wanted()) want.set(`${w.kind}\0${w.vhost}\0${w.name}\0${w.upstream.name}`, w);
    for (const [k, l] of [...this.links]) {
      const w = want.get(k);
      if (w && JSON.stringify(w.upstream) === l.config) continue;
      this.links.delete(k);
      // gone for good: an exchange link removes what it declared upstream; changed: just restarts
      if (!w && l.link instanceof ExchangeLink) void l.link.remove(); else void l.link.stop();
    }
    for (const [k, w] of want) {
      if (this.links.has(k)) continue;
      const env = { ...this.env, clusterName: () => this.clusterName() };
      const link = w.kind === 'exchange'
        ? new ExchangeLink(this.broker, w.vhost, w.name, w.upstream, env)
        : new QueueLink(this.broker, w.vhost, w.name, w.upstream, env);
      this.links.set(k, { link, config: JSON.stringify(w.upstream), id: crypto.createHash('sha1').update(k).digest('hex').slice(0, 8) });
      link.start();
    }
  }

  /** /api/federation-links, in RabbitMQ's shape */
  status(): Array<Record<string, unknown>> {
    return [...this.links.values()].map(({ link, id }) => {
      const base: Record<string, unknown> = {
        node: this.env.node, vhost: link.vhost, upstream: link.upstream.name, id, status: link.status, uri: link.uri,
        local_connection: link.connectionName, timestamp: statusTime(link.since),
      };
      if (link instanceof ExchangeLink) Object.assign(base, { type: 'exchange', exchange: link.exchange, upstream_exchange: link.upstreamExchange });
      else Object.assign(base, { type: 'queue', queue: link.queue, upstream_queue: link.upstreamQueue });
      if (link.status === 'error') base.error = link.error;
      return base;
    });
  }
}
