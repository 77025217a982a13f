// Queue federation, downstream side: a federated queue pulls messages from the queue of the same
// name (or the upstream's `queue`) on its upstream while it has consumers and no messages of its
// own to give them, so messages move to where they are consumed. The upstream consumer is
// started and cancelled as that changes; what it delivered is published into the local queue
// (with an x-received-from hop) and acked upstream as ack-mode says.
import type { Broker } from '../../broker/broker';
import type { ClientChannel, ClientMessage } from '../../client';
import type { LinkEnv } from '../connect';
import { Link } from '../link';
import { resolveLinkUri } from '../uri';
import { addHop } from './received-from';
import { forwardConfirmed } from './forward';
import type { UpstreamConfig } from './upstream';

// How often the local queue's demand is looked at (the broker has no consumer events).
const DEMAND_POLL_MS = 100;

export class QueueLink extends Link {
  readonly upstreamQueue: string;
  private timer: NodeJS.Timeout | null = null;
  private runFail: (reason: string) => void = () => undefined;
  private up: ClientChannel | null = null;
  private consumerTag: string | null = null;
  private switching = false;

  constructor(private readonly broker: Broker, readonly vhost: string, readonly queue: string, readonly upstream: UpstreamConfig,
    private readonly env: LinkEnv) {
    super(`federation link from upstream '${upstream.name}' to queue '${queue}' in vhost '${vhost}'`, upstream.reconnectDelay);
    this.upstreamQueue = upstream.queue ?? queue;
    this.uri = resolveLinkUri(upstream.uris[0], env.selfPort, vhost).display;
  }

  protected async setup(): Promise<void> {
    // callbacks of this run's channels and timers end this run only
    const fail = this.runFail = this.failer();
    const u = this.upstream;
    const name = `Federation link (upstream: ${u.name}, policy: queue ${this.queue})`;
    const { upstream: upConn, local } = await this.connectEnds(u.uris, this.env.selfPort, this.vhost, name);
    const ch = await upConn.openChannel();
    ch.onClosed = (e) => fail(`upstream channel closed: ${e.message}`);
    await ch.declareQueue(this.upstreamQueue, { passive: true }).catch((e: Error) => {
      throw new Error(`upstream queue '${this.upstreamQueue}' not found: ${e.message}`);
    });
    const lch = await local.openChannel();
    lch.onClosed = (e) => fail(`local channel closed: ${e.message}`);
    const hop = { uri: this.uri, exchange: '', vhost: upConn.url.vhost, clusterName: String(upConn.serverProperties.cluster_name ?? upConn.url.host) };
    await forwardConfirmed(ch, lch, u, (m: ClientMessage) => ({
      exchange: '', routingKey: this.queue, props: addHop(m.rawProperties, hop, m.redelivered, u.trustUserId),
    }), () => this.progress());
    ch.onCancel = () => { this.consumerTag = null; };
    this.up = ch;
    this.consumerTag = null;
    this.timer = setInterval(() => this.followDemand(), DEMAND_POLL_MS);
    this.setStatus('running');
  }

  private followDemand(): void {
    const ch = this.up;
    if (!ch || this.switching) return;
    const q = this.broker.vhosts.get(this.vhost)?.queues.get(this.queue);
    const want = q !== undefined && q.consumerCount > 0 && q.messageCount === 0;
    if (want === (this.consumerTag !== null)) return;
    this.switching = true;
    const done = () => { this.switching = false; };
    if (want) {
      ch.consume(this.upstreamQueue, { noAck: this.upstream.ackMode === 'no-ack' }).then((tag) => { this.consumerTag = tag; done(); },
        (e: Error) => { done(); this.runFail(`cannot consume from the upstream queue: ${e.message}`); });
    } else {
      const tag = this.consumerTag!;
      this.consumerTag = null;
      ch.cancel(tag).then(done, done);
    }
  }

  protected teardown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.up = null;
    this.consumerTag = null;
    this.switching = false;
  }
}
