// The Stream protocol listener (RabbitMQ's port 5552): accepts connections, drives their
// heartbeats from one timer, closes them at shutdown. Streams are the broker's stream queues,
// shared with AMQP 0-9-1.
import * as net from 'node:net';
import type { Broker } from '../broker/broker';
import { log } from '../logger';
import { counters } from '../broker/counters';
import { listenOnDefault, listenerCreated } from '../server/listen';
import { StreamConnection, type StreamServerConfig } from './connection';
import { SacGroups } from './sac-groups';

export interface StreamServerOptions {
  port: number;
  host?: string;
  /** largest frame accepted (default 1 MiB, RabbitMQ's) */
  frameMax?: number;
  heartbeat?: number;
}

export class StreamServer {
  readonly connections = new Set<StreamConnection>();
  private servers: net.Server[] = [];
  private ticker: NodeJS.Timeout | null = null;
  private readonly config: StreamServerConfig;
  /** single active consumer groups, across the connections of this listener */
  readonly sac = new SacGroups();

  constructor(readonly broker: Broker, private readonly opts: StreamServerOptions) {
    this.config = { frameMax: opts.frameMax ?? 1048576, heartbeat: opts.heartbeat ?? 60, port: opts.port };
  }

  async listen(): Promise<number> {
    const port = await listenOnDefault(this.opts.host, this.opts.port, (h, p) => this.listenOn(h, p));
    this.config.port = port;
    this.ticker = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.tick(now);
    }, 1000);
    this.ticker.unref();
    // a disk alarm stops reading from connections that publish (TCP pushes back), as RabbitMQ does
    this.broker.disk.onChange((active) => {
      for (const c of this.connections) c.setAlarm(active);
    });
    return port;
  }

  private listenOn(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = listenerCreated(net.createServer({ noDelay: true }, (socket) => {
        // counted with AMQP's, as RabbitMQ's connection churn counts Stream connections too
        counters.connectionsOpened++;
        const c = new StreamConnection(socket, this.broker, this.config, this.sac, (gone) => { if (this.connections.delete(gone)) counters.connectionsClosed++; });
        this.connections.add(c);
        if (this.broker.disk.alarmed) c.setAlarm(true);
      }));
      srv.once('error', reject);
      srv.listen({ host, port, ipv6Only: false }, () => {
        srv.off('error', reject);
        srv.on('error', (e) => log.error(`Stream listener ${host}:${port}: ${e.message}`));
        this.servers.push(srv);
        const addr = srv.address() as net.AddressInfo;
        log.info(`Stream protocol listener started on [${addr.address}]:${addr.port}`);
        resolve(addr.port);
      });
    });
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const c of [...this.connections]) c.shutdown();
    const deadline = Date.now() + 1000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of [...this.connections]) c.destroy();
    await closed;
  }
}
