// Opening a link's connection: each URI of the list in turn, the first that answers wins.
import { ClientConnection } from '../client';
import type { LinkTarget } from './uri';

/** What links need to know about the broker they run in. */
export interface LinkEnv {
  /** this broker's AMQP port (a host-less URI means this broker) */
  selfPort: number;
  /** node name, for forwarding headers and statuses */
  node: string;
}

// Heartbeats find a peer that vanished without closing (a killed host): RabbitMQ's links use
// the URI's heartbeat parameter, as here, and the server's proposal otherwise.
const DEFAULT_HEARTBEAT_S = 60;

export async function connectAny(targets: LinkTarget[], connectionName: string, role: string): Promise<{ conn: ClientConnection; target: LinkTarget }> {
  let last: Error | null = null;
  for (const target of targets) {
    try {
      const conn = await ClientConnection.connect(target.url, {
        heartbeat: target.heartbeat ?? DEFAULT_HEARTBEAT_S, connectionName, timeoutMs: 15_000,
        clientProperties: { product: 'Warren links', connection_name: connectionName },
      });
      return { conn, target };
    } catch (e) {
      last = e as Error;
    }
  }
  const why = last?.message ?? 'no URI';
  throw new Error(`cannot connect to the ${role} (${targets.map((t) => t.display).join(', ')}): ${why}`);
}
