// The AMQP listener: accepts TCP connections on IPv4 and IPv6, drives heartbeats for all
// connections from one timer, and closes everything on shutdown.
import * as net from 'node:net';
import type { Broker } from '../broker/broker';
import { Connection, type ServerConfig } from './connection';
import { DEFAULT_CONSUMER_TIMEOUT_MS } from './channel';
import { log } from '../logger';
import { counters } from '../broker/counters';
import { listenOnDefault } from './listen';

export interface ServerOptions {
  port: number;
  host?: string;               // default: all addresses, IPv4 and IPv6
  channelMax?: number;
  frameMax?: number;
  heartbeat?: number;
  consumerTimeoutMs?: number;  // unacked delivery age that closes a channel (default 30 min, 0 = off)
}

export const VERSION = '0.1.0';

export class AmqpServer {
  readonly connections = new Set<Connection>();
  private servers: net.Server[] = [];
  private ticker: NodeJS.Timeout | null = null;
  private readonly config: ServerConfig;

  constructor(readonly broker: Broker, private readonly opts: ServerOptions) {
    this.config = {
      channelMax: opts.channelMax ?? 2047,
      frameMax: opts.frameMax ?? 131072,
      heartbeat: opts.heartbeat ?? 60,
      consumerTimeoutMs: opts.consumerTimeoutMs ?? DEFAULT_CONSUMER_TIMEOUT_MS,
      product: 'Warren',
      version: VERSION,
    };
  }

  async listen(): Promise<number> {
    const port = await listenOnDefault(this.opts.host, this.opts.port, (h, p) => this.listenOn(h, p));
    this.ticker = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.tick(now);
    }, 1000);
    this.ticker.unref();
    this.broker.disk.onChange((active, reason) => {
      for (const c of this.connections) c.setAlarm(active, reason);
    });
    return port;
  }

  private listenOn(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
      srv.once('error', reject);
      srv.listen({ host, port, ipv6Only: false }, () => {
        srv.off('error', reject);
        srv.on('error', (e) => log.error(`AMQP listener ${host}:${port}: ${e.message}`));
        this.servers.push(srv);
        const addr = srv.address() as net.AddressInfo;
        log.info(`AMQP listener started on [${addr.address}]:${addr.port}`);
        resolve(addr.port);
      });
    });
  }

  private accept(socket: net.Socket): void {
    counters.connectionsOpened++;
    const c = new Connection(socket, this.broker, this.config, (gone) => { if (this.connections.delete(gone)) counters.connectionsClosed++; });
    this.connections.add(c);
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    // net.Server.close() only calls back once every connection has ended, so stop accepting
    // first and wait for it after the connections are told to go.
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const c of [...this.connections]) c.shutdown();
    // Give clients a moment to answer close-ok, then drop what is left.
    const deadline = Date.now() + 1000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of [...this.connections]) c.destroy();
    await closed;
  }
}
