// What every handler of the management API sees: the broker, the AMQP listener, the stats
// tracker, the node name and the listeners shown in /api/overview.
import * as os from 'node:os';
import type { Broker } from '../../broker/broker';
import type { AmqpServer } from '../../server/server';
import type { StreamServer } from '../../stream/server';
import type { StatsTracker } from '../stats';

export interface ManagementContext {
  broker: Broker;
  amqp: AmqpServer;
  /** the Stream protocol listener (null: not running) */
  stream: StreamServer | null;
  stats: StatsTracker;
  node: string;
  listeners: Array<{ protocol: string; ip_address: string; port: number }>;
}

export function nodeName(): string {
  return `warren@${os.hostname()}`;
}
