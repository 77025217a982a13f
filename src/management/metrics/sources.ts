// What the metrics are computed from: one pass over queues, connections and channels per
// scrape, so a scrape costs O(objects) and nothing is kept between scrapes.
import * as fs from 'node:fs';
import type { Queue } from '../../broker/queue';
import type { Connection } from '../../server/connection';
import type { Channel } from '../../server/channel';
import type { ManagementContext } from '../api/context';
import { channelName } from '../format';

export interface QueueRow { vhost: string; q: Queue }
export interface ChannelRow { conn: Connection; ch: Channel; name: string }

export interface Snapshot {
  queues: QueueRow[];
  connections: Connection[];
  channels: ChannelRow[];
  exchanges: number;
  /** AMQP consumers and Stream protocol subscriptions */
  consumers: number;
  /** AMQP connections that published */
  publishers: number;
  /** the Stream protocol's connections, subscriptions and publishers */
  stream: { connections: number; consumers: number; publishers: number };
}

export function snapshot(ctx: ManagementContext, vhosts?: Set<string>): Snapshot {
  const queues: QueueRow[] = [];
  let exchanges = 0, consumers = 0;
  for (const vh of ctx.broker.vhosts.values()) {
    if (vhosts && !vhosts.has(vh.name)) continue;
    exchanges += vh.exchanges.size;
    for (const q of vh.queues.values()) {
      queues.push({ vhost: vh.name, q });
      consumers += q.consumerCount;
    }
  }
  const connections: Connection[] = [];
  const channels: ChannelRow[] = [];
  let publishers = 0;
  for (const c of ctx.amqp.connections) {
    if (c.connectionState === 'closed') continue;
    connections.push(c);
    if (c.isPublisher) publishers++;
    for (const ch of c.openChannels) channels.push({ conn: c, ch, name: channelName(c, ch) });
  }
  const stream = { connections: 0, consumers: 0, publishers: 0 };
  for (const c of ctx.stream?.connections ?? []) {
    if (c.state !== 'opened' || (vhosts && !vhosts.has(c.vhost?.name ?? ''))) continue;
    stream.connections++;
    stream.consumers += c.subscriptions.all.length;
    stream.publishers += c.publishers.count;
  }
  return { queues, connections, channels, exchanges, consumers, publishers, stream };
}

export function openFds(): number {
  try { return fs.readdirSync('/proc/self/fd').length; } catch { return 0; }
}

// The soft limit on open files, from /proc (Node has no getrlimit).
export function maxFds(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? 1048576 : Number(m[1]);
  } catch { /* not Linux */ }
  return 1024;
}
