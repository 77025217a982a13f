// The Stream protocol listeners (RabbitMQ's port 5552, and 5551 over TLS): accept connections,
// drive their heartbeats from one timer, close them at shutdown. Streams are the broker's stream
// queues, shared with AMQP 0-9-1.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { type TlsFiles, createTlsServer, reloadTls } from '../server/tls';
import type { Broker } from '../broker/broker';
import { log } from '../logger';
import { counters } from '../broker/counters';
import { listenOnDefault, listenerCreated } from '../server/listen';
import { StreamConnection, type StreamServerConfig } from './connection';
import { SacGroups } from './sac-groups';

export interface StreamServerOptions {
  /** plain TCP (0: none) */
  port: number;
  /** over TLS, beside it (RabbitMQ's stream.listeners.ssl) */
  tls?: TlsFiles & { port: number };
  handshakeTimeoutMs?: number;
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
  /** TLS connections are told the TLS port (metadata) */
  private readonly tlsConfig: StreamServerConfig;
  private tlsServers: tls.Server[] = [];
  tlsPort: number | null = null;
  /** single active consumer groups, across the connections of this listener */
  readonly sac = new SacGroups();

  constructor(readonly broker: Broker, private readonly opts: StreamServerOptions) {
    this.config = { frameMax: opts.frameMax ?? 1048576, heartbeat: opts.heartbeat ?? 60, port: opts.port, tls: false };
    this.tlsConfig = { ...this.config, port: opts.tls?.port ?? 0, tls: true };
  }

  /** Listens; the plain port (0 when only TLS is on). */
  async listen(): Promise<number> {
    const port = this.opts.port > 0 ? await listenOnDefault(this.opts.host, this.opts.port, (h, p) => this.listenOn(h, p)) : 0;
    this.config.port = port;
    const t = this.opts.tls;
    if (t) this.tlsConfig.port = this.tlsPort = await listenOnDefault(this.opts.host, t.port, (h, p) => this.listenOn(h, p, t));
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

  private listenOn(host: string, port: number, t?: TlsFiles): Promise<number> {
    return new Promise((resolve, reject) => {
      let srv: net.Server;
      if (t) {
        const ts = createTlsServer(t, this.opts.handshakeTimeoutMs ?? 10_000, (socket) => this.accept(socket, this.tlsConfig));
        this.tlsServers.push(ts);
        srv = listenerCreated(ts);
      } else {
        srv = listenerCreated(net.createServer({ noDelay: true }, (socket) => this.accept(socket, this.config)));
      }
      srv.once('error', reject);
      srv.listen({ host, port, ipv6Only: false }, () => {
        srv.off('error', reject);
        srv.on('error', (e) => log.error(`Stream listener ${host}:${port}: ${e.message}`));
        this.servers.push(srv);
        const addr = srv.address() as net.AddressInfo;
        log.info(`Stream protocol listener started on [${addr.address}]:${addr.port}${t ? ' (stream/ssl, TLS 1.2-1.3)' : ''}`);
        resolve(addr.port);
      });
    });
  }

  private accept(socket: net.Socket, config: StreamServerConfig): void {
    // counted with AMQP's, as RabbitMQ's connection churn counts Stream connections too
    counters.connectionsOpened++;
    const c = new StreamConnection(socket, this.broker, config, this.sac, (gone) => { if (this.connections.delete(gone)) counters.connectionsClosed++; });
    this.connections.add(c);
    if (this.broker.disk.alarmed) c.setAlarm(true);
  }

  // SIGHUP: new certificate and key for new handshakes; open connections are left alone.
  reloadTls(): void {
    if (this.opts.tls) reloadTls(this.tlsServers, this.opts.tls);
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
