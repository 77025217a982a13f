// The HTTP listener of the management plugin: the API under /api (api/router.ts), Prometheus metrics at
// /metrics (metrics/prometheus.ts) and the web console at / and /console/* (console-assets.ts). Listens like the AMQP listener:
// on every IPv4 and IPv6 address unless a host is given; port 0 picks a free port.
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import type { Broker } from '../broker/broker';
import type { AmqpServer } from '../server/server';
import { log } from '../logger';
import { type ManagementContext, nodeName } from './api/context';
import type { StreamServer } from '../stream/server';
import { type ApiReply, type ApiRequest, HttpError } from './api/http';
import { handleApi } from './api/router';
import { METRICS_CONTENT_TYPE } from './metrics/writer';
import { renderDetailed, renderMetrics } from './metrics/prometheus';
import { type Asset, CONSOLE_HEADERS, loadConsoleAssets } from './console-assets';
import { StatsTracker } from './stats';
import { listenOnDefault, listenerCreated } from '../server/listen';
import { type TlsFiles, peerRefusal, reloadTls, serverOptions } from '../server/tls';

export interface HttpServerOptions {
  port: number;
  host?: string;          // default: all addresses, IPv4 and IPv6
  amqpPort: number;       // for the listeners shown in /api/overview
  maxBodyBytes?: number;  // request bodies (definitions) larger than this get 413
  amqpTlsPort?: number | null;           // for the listeners shown in /api/overview
  tls?: TlsFiles & { port: number };     // HTTPS on its own port, beside HTTP
  stream?: StreamServer | null;          // its connections, publishers and consumers are shown too
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;

export class HttpServer {
  private servers: http.Server[] = [];
  private tlsServers: https.Server[] = [];
  tlsPort: number | null = null;
  private readonly ctx: ManagementContext;
  private readonly stats: StatsTracker;
  private readonly maxBody: number;
  private readonly assets: Map<string, Asset> = loadConsoleAssets();

  constructor(broker: Broker, amqp: AmqpServer, private readonly opts: HttpServerOptions) {
    this.stats = new StatsTracker(broker);
    this.maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.ctx = {
      broker, amqp, stream: opts.stream ?? null, stats: this.stats, node: nodeName(),
      listeners: [{ protocol: 'amqp', ip_address: opts.host ?? '::', port: opts.amqpPort }],
    };
    if (opts.amqpTlsPort) this.ctx.listeners.push({ protocol: 'amqp/ssl', ip_address: opts.host ?? '::', port: opts.amqpTlsPort });
  }

  /** Another listener to show in /api/overview and /metrics (the Stream protocol's). */
  addListener(protocol: string, port: number): void {
    this.ctx.listeners.push({ protocol, ip_address: this.opts.host ?? '::', port });
  }

  async listen(): Promise<number> {
    const port = await listenOnDefault(this.opts.host, this.opts.port, (h, p) => this.listenOn(h, p));
    this.ctx.listeners.push({ protocol: 'http', ip_address: this.opts.host ?? '::', port });
    const t = this.opts.tls;
    if (t) {
      this.tlsPort = await listenOnDefault(this.opts.host, t.port, (h, p) => this.listenOn(h, p, t));
      this.ctx.listeners.push({ protocol: 'https', ip_address: this.opts.host ?? '::', port: this.tlsPort });
    }
    this.stats.start();
    return port;
  }

  private listenOn(host: string, port: number, t?: TlsFiles): Promise<number> {
    return new Promise((resolve, reject) => {
      const handler = (req: http.IncomingMessage, res: http.ServerResponse) => { void this.handle(req, res); };
      let srv: http.Server;
      if (t) {
        const ts = https.createServer(serverOptions(t, 10_000), handler);
        ts.on('secureConnection', (socket) => {
          const why = peerRefusal(socket, t);
          if (why !== null) { log.warn(`HTTPS connection from ${socket.remoteAddress} refused: ${why}`); socket.destroy(); }
        });
        this.tlsServers.push(ts);
        srv = listenerCreated(ts);
      } else {
        srv = listenerCreated(http.createServer(handler));
      }
      srv.keepAliveTimeout = 5000;
      srv.headersTimeout = 20000;
      srv.requestTimeout = 60000;
      srv.once('error', reject);
      srv.listen({ host, port, ipv6Only: false }, () => {
        srv.off('error', reject);
        srv.on('error', (e) => log.error(`HTTP listener ${host}:${port}: ${e.message}`));
        this.servers.push(srv);
        const addr = srv.address() as net.AddressInfo;
        log.info(`HTTP management listener started on [${addr.address}]:${addr.port} (${t ? 'https, TLS 1.2-1.3' : 'http'})`);
        resolve(addr.port);
      });
    });
  }

  // SIGHUP: new certificate and key for new handshakes.
  reloadTls(): void {
    if (this.opts.tls) reloadTls(this.tlsServers, this.opts.tls);
  }

  async close(): Promise<void> {
    this.stats.stop();
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of this.servers) s.closeAllConnections();
    await closed;
    this.servers = [];
  }

  // ---- requests -----------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const raw = url.pathname;
      if (raw === '/metrics' || raw === '/metrics/per-object' || raw === '/metrics/detailed') {
        if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${method} not allowed here; allowed: GET`, { Allow: 'GET' });
        if (raw === '/metrics') return send(res, 200, await renderMetrics(this.ctx), { 'Content-Type': METRICS_CONTENT_TYPE });
        // per-object and detailed replies can be megabytes: streamed, yielding between pieces
        res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Cache-Control': 'no-cache' });
        if (method === 'HEAD') { res.end(); return; }
        const sink = async (chunk: string): Promise<void> => {
          if (res.destroyed) throw new Error('client went away');
          if (!res.write(chunk)) {
            await new Promise<void>((r) => {
              const done = () => { res.off('drain', done); res.off('close', done); r(); };
              res.on('drain', done);
              res.on('close', done);
            });
          }
          await new Promise<void>((r) => setImmediate(r));
        };
        try {
          if (raw === '/metrics/per-object') await renderMetrics(this.ctx, 'per-object', sink);
          else await renderDetailed(this.ctx, url.searchParams, sink);
          res.end();
        } catch (e) {
          res.destroy(e as Error);
        }
        return;
      }
      const asset = this.assets.get(raw);
      if (asset) {
        if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${method} not allowed here; allowed: GET`, { Allow: 'GET' });
        return sendBuffer(res, 200, asset.body, { 'Content-Type': asset.type, 'Cache-Control': 'no-cache', ...CONSOLE_HEADERS });
      }
      if (raw === '/') throw new HttpError(500, 'console_missing', 'the console files are not built (npm run build)');
      // Split before decoding, so an encoded "/" (the vhost "/" is "%2F") stays inside its segment.
      const segments = raw.split('/').slice(1);
      if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
      if (segments[0] !== 'api') throw new HttpError(404, 'Object Not Found', 'Not Found');
      let path: string[];
      try {
        path = segments.map((s) => decodeURIComponent(s));
      } catch {
        throw new HttpError(400, 'bad_request', 'malformed percent-encoding in the path');
      }
      const apiReq: ApiRequest = {
        method, path, query: url.searchParams, headers: req.headers, remoteAddress: req.socket.remoteAddress,
        tls: (req.socket as { encrypted?: boolean }).encrypted === true,
        readBody: () => readBody(req, this.maxBody),
      };
      const reply = await handleApi(this.ctx, apiReq);
      return sendReply(res, reply);
    } catch (e) {
      if (e instanceof HttpError) {
        if (e.status >= 500) log.error(`HTTP ${method} ${req.url}: ${e.message}`);
        return sendReply(res, { status: e.status, body: { error: e.error, reason: e.reason }, headers: e.headers });
      }
      log.error(`HTTP ${method} ${req.url}: internal error: ${(e as Error)?.stack ?? e}`);
      return sendReply(res, { status: 500, body: { error: 'internal_error', reason: (e as Error)?.message ?? String(e) } });
    } finally {
      // A body the handler did not read must not be left in the socket of a kept-alive connection.
      if (!req.readableEnded) req.resume();
    }
  }
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    // The rest of a refused body is read and dropped, not cut off by closing the connection: a
    // client still writing it would get EPIPE or a reset, often before it could read the 413.
    // The server's request timeout bounds a body that never ends.
    const tooLarge = () => new HttpError(413, 'payload_too_large', `request body over ${limit} bytes`);
    if (Number(req.headers['content-length']) > limit) {
      // refused before reading it
      over = true;
      reject(tooLarge());
    }
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendReply(res: http.ServerResponse, r: ApiReply): void {
  const headers: Record<string, string> = { 'Cache-Control': 'no-cache', ...r.headers };
  if (r.body === undefined) return send(res, r.status, '', headers);
  send(res, r.status, JSON.stringify(r.body), { 'Content-Type': 'application/json', ...headers });
}

function sendBuffer(res: http.ServerResponse, status: number, body: Buffer, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'Content-Length': String(body.length) });
  res.end(body);
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  if (res.headersSent) { res.end(); return; }
  if (status === 204) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const buf = Buffer.from(body);
  res.writeHead(status, { ...headers, 'Content-Length': String(buf.length) });
  res.end(buf);
}
