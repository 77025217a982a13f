// Exchange federation, downstream side: one link per federated exchange and upstream. On the
// upstream it declares a queue and an x-federation-upstream exchange bound to the upstream
// exchange with the same keys as the local exchange's bindings (kept in step while it runs),
// consumes the queue and republishes each message to the local exchange with its routing key
// and an x-received-from hop; with on-confirm the upstream message is acked once the local
// publish is confirmed.
import type { Broker } from '../../broker/broker';
import type { ClientChannel, ClientConnection, ClientMessage } from '../../client';
import { type FieldTable, typed } from '../../protocol';
import type { LinkEnv } from '../connect';
import { Link } from '../link';
import { resolveLinkUri } from '../uri';
import { addHop } from './received-from';
import { upstreamExchangeNames, upstreamQueueName } from './names';
import { forwardConfirmed } from './forward';
import { BindingMirror } from './binding-mirror';
import type { UpstreamConfig } from './upstream';

// Bindings are compared with the local exchange's this often: the broker has no binding events,
// and a remote bind costs a round trip anyway.
const BINDING_SYNC_MS = 200;

export class ExchangeLink extends Link {
  readonly upstreamExchange: string;
  private timer: NodeJS.Timeout | null = null;
  private up: ClientChannel | null = null;
  private queue = '';

  constructor(private readonly broker: Broker, readonly vhost: string, readonly exchange: string, readonly upstream: UpstreamConfig,
    private readonly env: LinkEnv & { clusterName: () => string }) {
    super(`federation link from upstream '${upstream.name}' to exchange '${exchange}' in vhost '${vhost}'`, upstream.reconnectDelay);
    this.upstreamExchange = upstream.exchange ?? exchange;
    this.uri = resolveLinkUri(upstream.uris[0], env.selfPort, vhost).display;
  }

  protected async setup(): Promise<void> {
    // callbacks of this run's channels and timers end this run only
    const fail = this.failer();
    const u = this.upstream;
    const name = `Federation link (upstream: ${u.name}, policy: exchange ${this.exchange})`;
    const { upstream: upConn, local } = await this.connectEnds(u.uris, this.env.selfPort, this.vhost, name);

    const ch = await upConn.openChannel();
    ch.onClosed = (e) => fail(`upstream channel closed: ${e.message}`);
    await ch.declareExchange(this.upstreamExchange, 'direct', { passive: true }).catch((e: Error) => {
      throw new Error(`upstream exchange '${this.upstreamExchange}' not found: ${e.message}`);
    });
    this.queue = upstreamQueueName(this.upstreamExchange, this.env.clusterName(), this.vhost, this.exchange);
    const qargs: FieldTable = { 'x-internal-purpose': 'federation' };
    if (u.expires !== undefined) qargs['x-expires'] = u.expires;
    if (u.messageTtl !== undefined) qargs['x-message-ttl'] = u.messageTtl;
    await ch.declareQueue(this.queue, { durable: true, arguments: qargs });
    const [a, b] = upstreamExchangeNames(this.queue);
    const aExists = await exchangeExists(upConn, a);
    const [fresh, old] = aExists ? [b, a] : [a, b];
    await ch.declareExchange(fresh, 'x-federation-upstream', {
      durable: true, internal: true,
      // RabbitMQ insists on a long (a JS number would go out as a 32-bit int)
      arguments: { 'x-downstream-name': this.env.clusterName(), 'x-downstream-vhost': this.vhost, 'x-max-hops': typed('l', u.maxHops) },
    });
    this.up = ch;
    const mirror = new BindingMirror(ch, fresh, this.upstreamExchange,
      () => this.broker.vhosts.get(this.vhost)?.exchanges.get(this.exchange)?.bindings ?? [],
      { clusterName: this.env.clusterName(), vhost: this.vhost, exchange: this.exchange, maxHops: u.maxHops });
    await mirror.sync();
    await ch.bindQueue(this.queue, fresh, '');
    await ch.deleteExchange(old).catch(() => undefined);
    if (ch.closed) throw new Error(`upstream channel closed: ${ch.error?.message ?? ''}`);

    const lch = await local.openChannel();
    lch.onClosed = (e) => fail(`local channel closed: ${e.message}`);
    const hop = {
      uri: this.uri, exchange: this.upstreamExchange, vhost: upConn.url.vhost,
      clusterName: String(upConn.serverProperties.cluster_name ?? upConn.url.host),
    };
    await forwardConfirmed(ch, lch, u, (m: ClientMessage) => ({
      exchange: this.exchange, routingKey: m.routingKey, props: addHop(m.rawProperties, hop, m.redelivered, u.trustUserId),
    }), () => this.progress());
    await ch.consume(this.queue, { noAck: u.ackMode === 'no-ack' });
    ch.onCancel = () => fail('the upstream queue was deleted');
    this.timer = setInterval(() => { mirror.sync().catch((e: Error) => fail(`binding sync failed: ${e.message}`)); }, BINDING_SYNC_MS);
    this.setStatus('running');
  }

  protected teardown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.up = null;
  }

  /** The link is gone for good (policy or upstream removed): its upstream queue and exchange go too, as in RabbitMQ. */
  async remove(): Promise<void> {
    await this.stop(async () => {
      const ch = this.up;
      if (!ch) return;
      // the exchanges first: deleting the queue cancels our consumer, which ends the run
      for (const x of upstreamExchangeNames(this.queue)) await ch.deleteExchange(x).catch(() => undefined);
      await ch.deleteQueue(this.queue);
    });
  }
}

// A passive declare that fails closes its channel: probed on a channel of its own.
async function exchangeExists(conn: ClientConnection, name: string): Promise<boolean> {
  const ch = await conn.openChannel();
  try {
    await ch.declareExchange(name, 'x-federation-upstream', { passive: true });
    await ch.close();
    return true;
  } catch {
    return false;
  }
}

