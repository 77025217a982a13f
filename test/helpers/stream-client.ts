// Closing a rabbitmq-stream-js-client Client in a test: its close() waits for the broker's
// answer with no bound (forever once the broker is gone), and a socket it still holds keeps
// the test process alive until tap's timeout. Both helpers reach into the client's connections.
import * as rabbit from 'rabbitmq-stream-js-client';
import { sleep } from './amqp';

type Conn = { socket?: { destroy(): void }; heartbeat?: { stop(): void } };

type Pub = { queue?: unknown[]; _closed?: boolean };

/**
 * Destroys every socket of a client whose broker is gone (killed or stopped), and empties its
 * publishers' send queues: a publisher holding messages for a connection that is not ready
 * reschedules its flush with setImmediate forever, a busy loop that keeps the process alive.
 */
export function abandonStreamClient(client: unknown): void {
  const c = client as { locatorConnection?: Conn; pool?: { connectionsMap?: Map<string, Conn[]> }; publishers?: Map<string, { publisher?: Pub }> };
  for (const { publisher } of c.publishers?.values() ?? []) {
    if (!publisher) continue;
    if (publisher.queue) publisher.queue.length = 0;
    publisher._closed = true;
  }
  const all: Conn[] = [];
  if (c.locatorConnection) all.push(c.locatorConnection);
  for (const list of c.pool?.connectionsMap?.values() ?? []) all.push(...list);
  for (const conn of all) {
    conn.heartbeat?.stop();
    conn.socket?.destroy();
  }
}

/** A close that waits at most `ms` for the broker's answer, then drops the sockets. */
export async function closeStreamClient(client: { close(): Promise<unknown> }, ms = 2000): Promise<void> {
  await Promise.race([client.close().catch(() => undefined), sleep(ms)]);
  abandonStreamClient(client);
}

/**
 * rabbitmq-stream-js-client clients of one test file, as guest on vhost '/' of the broker at
 * `port()` (read when a client is opened); closeAll() closes them all (for t.teardown).
 */
export function streamClients(port: () => number): { open(): Promise<rabbit.Client>; closeAll(): Promise<void> } {
  const clients: rabbit.Client[] = [];
  return {
    async open() {
      const c = await rabbit.connect({ hostname: '127.0.0.1', port: port(), username: 'guest', password: 'guest', vhost: '/' });
      clients.push(c);
      return c;
    },
    async closeAll() {
      for (const c of clients.splice(0)) await closeStreamClient(c);
    },
  };
}
