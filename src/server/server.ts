// The AMQP listener: accepts TCP connections on IPv4 and IPv6 and closes everything on
// shutdown. (Heartbeats for all connections run on one timer wheel: heartbeat-wheel.ts.)
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Broker } from '../broker/broker';
import { Connection } from './connection';
import type { ServerConfig } from './handshake';
import { DEFAULT_CONSUMER_TIMEOUT_MS } from './channel';
import { log } from '../logger';
import { counters } from '../broker/counters';
import { listenOnDefault, listenerCreated } from './listen';
import { type TlsFiles, createTlsServer, reloadTls } from './tls';
import type { CertLoginFrom } from '../broker/auth/mechanisms';

export interface ServerOptions {
  port: number;
  host?: string;               // default: all addresses, IPv4 and IPv6
  channelMax?: number;
  frameMax?: number;
  heartbeat?: number;
  consumerTimeoutMs?: number;  // unacked delivery age that closes a channel (default 30 min, 0 = off)
  // AMQP over TLS (amqps) on its own port, beside the plain listener.
  tls?: TlsFiles & { port: number };
  maxConnections?: number | null;   // node-wide, checked at connection.open (default: no limit)
  handshakeTimeoutMs?: number;      // default 10 s
  authFailureDelayMs?: number;      // default 1 s
  maxMessageSize?: number;          // default 128 MiB
  certLoginFrom?: CertLoginFrom;    // EXTERNAL user name: common_name (default), distinguished_name, subject_alternative_name
}

export const VERSION = '0.1.0';

export class AmqpServer {
  readonly connections = new Set<Connection>();
  private servers: net.Server[] = [];
  private tlsServers: tls.Server[] = [];
  tlsPort: number | null = null;
  private readonly config: ServerConfig;

  constructor(readonly broker: Broker, private readonly opts: ServerOptions) {
    this.config = {
      channelMax: opts.channelMax ?? 2047,
      frameMax: opts.frameMax ?? 131072,
      heartbeat: opts.heartbeat ?? 60,
      consumerTimeoutMs: opts.consumerTimeoutMs ?? DEFAULT_CONSUMER_TIMEOUT_MS,
      product: 'Warren',
      version: VERSION,
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
      authFailureDelayMs: opts.authFailureDelayMs,
      maxConnections: opts.maxConnections ?? null,
      connectionCount: () => this.connections.size,
      certLoginFrom: opts.certLoginFrom,
      maxMessageSize: opts.maxMessageSize,
    };
  }

  async listen(): Promise<number> {
    const port = await listenOnDefault(this.opts.host, this.opts.port, (h, p) => this.listenOn(h, p));
    const t = this.opts.tls;
    if (t) this.tlsPort = await listenOnDefault(this.opts.host, t.port, (h, p) => this.listenOn(h, p, t));
    this.broker.disk.onChange((active, reason) => {
      for (const c of this.connections) c.setAlarm(active, reason);
    });
    return port;
  }

  private listenOn(host: string, port: number, t?: TlsFiles): Promise<number> {
    return new Promise((resolve, reject) => {
      let srv: net.Server;
      if (t) {
        const ts = createTlsServer(t, this.opts.handshakeTimeoutMs ?? 10_000, (socket) => this.accept(socket));
        this.tlsServers.push(ts);
        srv = listenerCreated(ts);
      } else {
        srv = listenerCreated(net.createServer({ noDelay: true }, (socket) => this.accept(socket)));
      }
      srv.once('error', reject);
      srv.listen({ host, port, ipv6Only: false }, () => {
        srv.off('error', reject);
        srv.on('error', (e) => log.error(`AMQP listener ${host}:${port}: ${e.message}`));
        this.servers.push(srv);
        const addr = srv.address() as net.AddressInfo;
        log.info(`AMQP listener started on [${addr.address}]:${addr.port} (${t ? 'amqp/ssl, TLS 1.2-1.3' : 'amqp'})`);
        resolve(addr.port);
      });
    });
  }

  // SIGHUP: new certificate and key for new handshakes; open connections are left alone.
  reloadTls(): void {
    if (this.opts.tls) reloadTls(this.tlsServers, this.opts.tls);
  }

  private accept(socket: net.Socket): void {
    counters.connectionsOpened++;
    const c = new Connection(socket, this.broker, this.config, (gone) => { if (this.connections.delete(gone)) counters.connectionsClosed++; });
    this.connections.add(c);
  }

  async close(): Promise<void> {
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
