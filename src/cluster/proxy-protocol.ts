// Clients may connect to any node: a follower forwards each AMQP, Stream protocol and HTTP
// connection to the leader, prefixed with a PROXY protocol v1 header (HAProxy's text form:
// "PROXY TCP4 <client ip> <proxy ip> <client port> <proxy port>\r\n"), so the leader sees the
// client's own address: loopback-only users, connection names and lists stay right.
//
// TLS listeners (amqps, https) are forwarded the same way, as bytes: the follower does not
// terminate TLS, the client's handshake is with the leader, so the leader's certificate is what
// the client verifies and the client's certificate is what the leader verifies (EXTERNAL logins
// and verify_peer work through a follower as they do directly). The header goes in clear before
// the TLS bytes; a TLS server reads it here, then hands the socket to TLS with whatever followed
// the header still buffered (Node's TLSSocket feeds a socket's buffered bytes to the handshake).
//
// The leader believes a header only from a cluster member's address (a client elsewhere cannot
// claim to be on loopback); a header from anyone else closes the connection. Connections
// without a header are served as usual.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { log } from '../logger';

const MAX_HEADER = 107; // the longest v1 header, CRLF included

interface Peer { address: string; port: number; family: string }

function setPeer(socket: net.Socket, p: Peer): void {
  Object.defineProperty(socket, 'remoteAddress', { value: p.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: p.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: p.family, configurable: true });
}

/** Makes `srv` accept a PROXY v1 header from trusted peers, before its own handler runs. */
export function acceptProxyHeader(srv: net.Server, trusted: (addr: string) => boolean): void {
  const isTls = srv instanceof tls.Server;
  // The client addresses of proxied raw sockets, for the TLS sockets made on top of them (a
  // TLSSocket asks the kernel for its peer, which is the follower, so the address is copied).
  const proxied = new WeakMap<net.Socket, Peer>();
  const fromRaw = (s: unknown) => {
    const raw = (s as { _parent?: net.Socket } | undefined)?._parent;
    const p = raw === undefined ? undefined : proxied.get(raw);
    if (p !== undefined) setPeer(s as net.Socket, p);
  };
  const emit = srv.emit as (this: net.Server, ev: string | symbol, ...a: unknown[]) => boolean;
  srv.emit = function (this: net.Server, ev: string | symbol, ...args: unknown[]): boolean {
    if (isTls && ev === 'secureConnection') fromRaw(args[0]);
    if (isTls && ev === 'tlsClientError') fromRaw(args[1]);
    if (ev !== 'connection') return emit.call(this, ev, ...args);
    const socket = args[0] as net.Socket;
    let got: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
      const isProxy = got.subarray(0, 6).toString('latin1') === 'PROXY '.slice(0, Math.min(6, got.length));
      if (!isProxy) return handOver(got);
      const end = got.indexOf('\r\n');
      if (end < 0) {
        if (got.length > MAX_HEADER) socket.destroy();
        return;
      }
      if (!trusted(socket.remoteAddress ?? '')) {
        log.warn(`PROXY header from ${socket.remoteAddress}, which is not a cluster member: connection closed`);
        socket.destroy();
        return;
      }
      const parts = got.subarray(0, end).toString('latin1').split(' ');
      if (parts.length === 6 && (parts[1] === 'TCP4' || parts[1] === 'TCP6')) {
        const p = { address: parts[2], port: Number(parts[4]), family: parts[1] === 'TCP4' ? 'IPv4' : 'IPv6' };
        setPeer(socket, p);
        proxied.set(socket, p);
      }
      handOver(got.subarray(end + 2));
    };
    const handOver = (rest: Buffer) => {
      socket.off('data', onData);
      socket.pause();
      if (rest.length > 0) socket.unshift(rest);
      emit.call(srv, 'connection', socket);
      // A TLS socket now reads the handle itself, after taking what is buffered (on the next
      // tick); resuming the raw socket would hand those bytes to no one.
      if (!isTls) socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    return true;
  } as typeof srv.emit;
}

export type Target = () => { host: string; port: number } | null;

/** A follower's listener that forwards every connection to `target()` (the leader's port). */
export class ProxyListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly name: string, private readonly target: Target) {
    this.server = net.createServer({ noDelay: true }, (client) => this.forward(client));
  }

  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host: host ?? '::', ipv6Only: false }, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  private forward(client: net.Socket): void {
    const t = this.target();
    if (t === null || client.remoteAddress === undefined) { client.destroy(); return; }
    const up = net.connect({ host: t.host, port: t.port, noDelay: true });
    this.sockets.add(client);
    this.sockets.add(up);
    const v6 = client.remoteFamily === 'IPv6' && !client.remoteAddress.startsWith('::ffff:');
    const strip = (a: string | undefined) => (a ?? '').replace(/^::ffff:/, '');
    const header = `PROXY ${v6 ? 'TCP6' : 'TCP4'} ${strip(client.remoteAddress)} ${strip(client.localAddress)} ${client.remotePort} ${client.localPort}\r\n`;
    up.write(header);
    client.pipe(up);
    up.pipe(client);
    const done = () => { client.destroy(); up.destroy(); this.sockets.delete(client); this.sockets.delete(up); };
    client.on('error', done);
    up.on('error', (e) => { log.debug(`${this.name} proxy to ${t.host}:${t.port}: ${e.message}`); done(); });
    client.on('close', done);
    up.on('close', done);
  }

  /** Stops listening and drops the forwarded connections (this node is about to lead). */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return new Promise((r) => this.server.close(() => r()));
  }
}
