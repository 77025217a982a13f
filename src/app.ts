// Wires the layers together for `warren start`: broker (with its store), AMQP listener, HTTP
// management listener, and the clean shutdown path used by SIGTERM/SIGINT.
import * as path from 'node:path';
import { Broker, type Definitions } from './broker/broker';
import { AmqpServer } from './server/server';
import { StreamServer } from './stream/server';
import { HttpServer } from './management/http-server';
import { log } from './logger';
import type { TlsFiles } from './server/tls';
import type { CertLoginFrom } from './broker/auth/mechanisms';
import { installProcessGuards } from './server/last-guard';
import { lockDataDir } from './store/dir-lock';
import { LinksManager } from './links/links-manager';
import { nodeName } from './management/api/context';

export interface AppOptions {
  port: number;
  host?: string;
  httpPort?: number;           // default 15672; 0 picks a free port
  dataDir: string;
  heartbeat?: number;
  consumerTimeoutMs?: number;
  diskFreeLimitBytes?: number;
  // Security and limits (docs/security.md).
  tls?: TlsFiles & { port: number };       // amqps listener
  httpTls?: TlsFiles & { port: number };   // https management listener
  streamTls?: TlsFiles & { port: number }; // Stream protocol over TLS
  certLoginFrom?: CertLoginFrom;
  loopbackUsers?: string[];
  maxConnections?: number | null;
  maxMessageSize?: number;
  handshakeTimeoutMs?: number;
  authFailureDelayMs?: number;
  // Definitions to import once the broker is open, before the listeners (RabbitMQ's load_definitions).
  definitions?: Record<string, unknown>;
  definitionsSource?: string;
  /** Stream protocol port (default 5552; 0: no Stream listener) */
  streamPort?: number;
}

export interface App {
  broker: Broker;
  amqp: AmqpServer;
  http: HttpServer;
  stream: StreamServer | null;
  port: number;
  httpPort: number;
  /** 0 when the Stream listener is off */
  streamPort: number;
  tlsPort: number | null;
  httpTlsPort: number | null;
  /** the Stream protocol over TLS (null: off) */
  streamTlsPort: number | null;
  // SIGHUP: re-reads the TLS certificate, key and CA files (throws when they do not load).
  reloadTls(): void;
  stop(): Promise<void>;
}

export async function startApp(opts: AppOptions): Promise<App> {
  installProcessGuards();
  const dataDir = path.resolve(opts.dataDir);
  const t0 = Date.now();
  log.info(`starting Warren, data directory ${dataDir}`);
  const lock = await lockDataDir(dataDir);
  let broker: Broker;
  try {
    broker = Broker.open({ dataDir, diskFreeLimitBytes: opts.diskFreeLimitBytes, loopbackUsers: opts.loopbackUsers });
  } catch (e) {
    lock.release();
    throw e;
  }
  log.info(`broker state recovered in ${((Date.now() - t0) / 1000).toFixed(3)} s`);
  if (opts.definitions) {
    try {
      broker.importDefinitions(opts.definitions as unknown as Definitions);
      log.info(`definitions imported from ${opts.definitionsSource ?? 'the start options'}`);
    } catch (e) {
      await broker.close();
      lock.release();
      throw new Error(`definitions from ${opts.definitionsSource ?? 'the start options'} refused: ${(e as Error).message.replace(/^definitions refused: /, '')}`);
    }
  }
  const amqp = new AmqpServer(broker, {
    port: opts.port, host: opts.host, heartbeat: opts.heartbeat, consumerTimeoutMs: opts.consumerTimeoutMs,
    tls: opts.tls, certLoginFrom: opts.certLoginFrom, maxConnections: opts.maxConnections, maxMessageSize: opts.maxMessageSize,
    handshakeTimeoutMs: opts.handshakeTimeoutMs, authFailureDelayMs: opts.authFailureDelayMs,
  });
  let port: number;
  try {
    port = await amqp.listen();
  } catch (e) {
    await amqp.close();
    await broker.close();
    lock.release();
    throw Object.assign(e as Error, { listener: 'AMQP', port: opts.port });
  }
  const streamWanted = opts.streamPort ?? 5552;
  const stream = streamWanted > 0 || opts.streamTls !== undefined
    ? new StreamServer(broker, { port: streamWanted, host: opts.host, heartbeat: opts.heartbeat, tls: opts.streamTls, handshakeTimeoutMs: opts.handshakeTimeoutMs })
    : null;
  const http = new HttpServer(broker, amqp, { port: opts.httpPort ?? 15672, host: opts.host, amqpPort: port, amqpTlsPort: amqp.tlsPort, tls: opts.httpTls, stream });
  let httpPort: number;
  let streamPort = 0;
  if (stream !== null) {
    try {
      streamPort = await stream.listen();
    } catch (e) {
      await stream.close();
      await amqp.close();
      await broker.close();
      lock.release();
      throw Object.assign(e as Error, { listener: 'Stream', port: streamWanted });
    }
    if (streamPort > 0) http.addListener('stream', streamPort);
    if (stream.tlsPort !== null) http.addListener('stream/ssl', stream.tlsPort);
  }
  try {
    httpPort = await http.listen();
  } catch (e) {
    await stream?.close();
    await http.close();
    await amqp.close();
    await broker.close();
    lock.release();
    throw Object.assign(e as Error, { listener: 'HTTP', port: opts.httpPort ?? 15672 });
  }
  // Shovels and federation links, once this broker's own port is known (a host-less URI).
  const links = new LinksManager(broker, { selfPort: port, node: nodeName() });
  broker.runtime.links = links;
  links.start();
  let stopping: Promise<void> | null = null;
  return {
    broker, amqp, http, stream, port, httpPort, streamPort, tlsPort: amqp.tlsPort, httpTlsPort: http.tlsPort,
    streamTlsPort: stream?.tlsPort ?? null,
    reloadTls() {
      amqp.reloadTls();
      http.reloadTls();
      stream?.reloadTls();
    },
    stop() {
      stopping ??= (async () => {
        log.info('stopping Warren');
        await links.stop();
        await http.close();
        await stream?.close();
        await amqp.close();
        await broker.close();
        lock.release();
        log.info('Warren stopped');
      })();
      return stopping;
    },
  };
}
