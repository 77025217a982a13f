// One Stream protocol connection: the handshake (peer properties, SASL PLAIN, tune, open), the
// command dispatch, heartbeats and closing. Publishing (publishers.ts), subscriptions
// (subscriptions.ts) and the stream and super stream commands (commands.ts) are modules of
// their own; they reach the connection through this class.
//
// Bad input never ends the process: a malformed frame, an unknown command or a frame larger
// than the negotiated maximum gets the protocol's code in a Close and the connection goes; a
// request about a stream that does not exist, or that the user may not use, gets its code in
// the response and the connection stays.
import type * as net from 'node:net';
import type { Broker } from '../broker/broker';
import { type User, permits } from '../broker/users';
import type { VHost } from '../broker/vhost';
import { Cmd, Code, FieldReader, FrameSplitter, FrameWriter, RESPONSE, StreamFrameError } from '../protocol/stream/frames';
import { OutBuffer } from '../server/out-buffer';
import { log } from '../logger';
import { StreamCommands } from './commands';
import { Publishers } from './publishers';
import { Subscriptions } from './subscriptions';
import type { SacGroups } from './sac-groups';
import { countStreamError } from './stream-counters';

export interface StreamServerConfig {
  /** largest frame a client may send (proposed in tune) */
  frameMax: number;
  /** heartbeat proposed in tune (seconds) */
  heartbeat: number;
  /** the port clients are told to connect to (metadata, open) */
  port: number;
  /** the listener is TLS */
  tls: boolean;
}

type State = 'peer-properties' | 'sasl' | 'authenticate' | 'tune' | 'open' | 'opened' | 'closing' | 'closed';

/** Commands and the versions this server speaks (exchange command versions). */
export const SERVER_VERSIONS: Array<[number, number, number]> = [
  [Cmd.DeclarePublisher, 1, 1], [Cmd.Publish, 1, 2], [Cmd.PublishConfirm, 1, 1], [Cmd.PublishError, 1, 1],
  [Cmd.QueryPublisherSequence, 1, 1], [Cmd.DeletePublisher, 1, 1], [Cmd.Subscribe, 1, 1], [Cmd.Deliver, 1, 2],
  [Cmd.Credit, 1, 1], [Cmd.StoreOffset, 1, 1], [Cmd.QueryOffset, 1, 1], [Cmd.Unsubscribe, 1, 1],
  [Cmd.Create, 1, 1], [Cmd.Delete, 1, 1], [Cmd.Metadata, 1, 1], [Cmd.MetadataUpdate, 1, 1],
  [Cmd.PeerProperties, 1, 1], [Cmd.SaslHandshake, 1, 1], [Cmd.SaslAuthenticate, 1, 1], [Cmd.Tune, 1, 1],
  [Cmd.Open, 1, 1], [Cmd.Close, 1, 1], [Cmd.Heartbeat, 1, 1], [Cmd.Route, 1, 1], [Cmd.Partitions, 1, 1],
  [Cmd.ConsumerUpdate, 1, 1], [Cmd.ExchangeCommandVersions, 1, 1], [Cmd.StreamStats, 1, 1],
  [Cmd.CreateSuperStream, 1, 1], [Cmd.DeleteSuperStream, 1, 1],
];

/**
 * The RabbitMQ version Warren tells Stream clients: the protocol level it speaks. Clients gate
 * features on it (rabbitmq-stream-js-client enables filtering and super stream commands from
 * 3.13 on).
 */
export const PROTOCOL_LEVEL_VERSION = '3.13.0';

const BEFORE_OPEN_FRAME_MAX = 64 * 1024;

export class StreamConnection {
  state: State = 'peer-properties';
  readonly out: OutBuffer;
  readonly name: string;
  user: User | null = null;
  vhost: VHost | null = null;
  clientProperties = new Map<string, string>();
  /** negotiated; 0: no limit */
  frameMax: number;
  heartbeat = 0;
  /** the client understands Deliver v2 (committed chunk id) */
  deliverV2 = false;
  readonly publishers: Publishers;
  readonly subscriptions: Subscriptions;
  private readonly commands: StreamCommands;
  private readonly splitter = new FrameSplitter(BEFORE_OPEN_FRAME_MAX);
  readonly w = new FrameWriter(4096);
  private lastRead = Date.now();
  private lastWrite = 0;
  private closeTimer: NodeJS.Timeout | null = null;
  readonly connectedAt = Date.now();

  constructor(readonly socket: net.Socket, readonly broker: Broker, readonly config: StreamServerConfig, sac: SacGroups, private readonly gone: (c: StreamConnection) => void) {
    this.name = `${socket.remoteAddress}:${socket.remotePort} -> ${socket.localAddress}:${socket.localPort}`;
    this.out = new OutBuffer(socket);
    this.frameMax = config.frameMax;
    this.publishers = new Publishers(this);
    this.subscriptions = new Subscriptions(this, sac);
    this.commands = new StreamCommands(this);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.subscriptions.resume());
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClosed());
    log.debug(`accepting Stream connection ${this.name}`);
  }

  // ---- input --------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastRead = Date.now();
    if (this.state === 'closed') return;
    try {
      this.splitter.push(chunk, this.onFrame);
    } catch (e) {
      this.fail(e);
    }
    // everything this read published is one chunk per stream; confirms wait on its sync
    try {
      this.publishers.endOfRead();
    } catch (e) {
      this.fail(e);
    }
    if (this.alarm && this.publishers.count > 0 && !this.paused) {
      this.paused = true;
      this.socket.pause();
      log.warn(`Stream connection ${this.name}: publishing blocked while the disk alarm is on`);
    }
  }

  private alarm = false;
  private paused = false;

  /** The disk alarm: a connection with publishers is not read while it is on. */
  setAlarm(active: boolean): void {
    this.alarm = active;
    if (active && this.publishers.count > 0 && !this.paused && this.state !== 'closed') {
      this.paused = true;
      this.socket.pause();
    } else if (!active && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private readonly onFrame = (buf: Buffer, start: number, end: number): void => {
    if (this.state === 'closed') return;
    if (end - start < 4) throw new StreamFrameError(Code.UnknownFrame, 'frame without key and version');
    const key = buf.readUInt16BE(start);
    const version = buf.readUInt16BE(start + 2);
    const r = new FieldReader(buf, start + 4, end);
    this.command(key, version, r);
  };

  private fail(e: unknown): void {
    if (e instanceof StreamFrameError) {
      log.warn(`Stream connection ${this.name}: ${e.message}; closing it`);
      this.closeWith(e.code, e.message);
      return;
    }
    log.error(`Stream connection ${this.name}: ${(e as Error)?.stack ?? e}; closing it`);
    this.closeWith(Code.InternalError, 'internal error');
  }

  private command(key: number, version: number, r: FieldReader): void {
    if (key & RESPONSE) {
      // responses from the client: close-ok, consumer update answers
      const k = key & ~RESPONSE;
      if (k === Cmd.Close) this.destroy();
      else if (k === Cmd.ConsumerUpdate) this.subscriptions.consumerUpdateAnswer(r);
      return;
    }
    if (this.state === 'closing') return;
    switch (key) {
      case Cmd.PeerProperties: return this.peerProperties(r);
      case Cmd.SaslHandshake: return this.saslHandshake(r);
      case Cmd.SaslAuthenticate: return this.saslAuthenticate(r);
      case Cmd.Tune: return this.tune(r);
      case Cmd.Open: return this.open(r);
      case Cmd.Heartbeat: return;
      case Cmd.Close: {
        const corr = r.u32();
        const code = r.u16();
        const reason = r.str();
        log.debug(`Stream connection ${this.name}: client closed (${code} ${reason ?? ''})`);
        this.send(this.w.response(Cmd.Close, corr, Code.Ok).end());
        this.out.flush();
        this.state = 'closing';
        this.socket.end();
        return;
      }
    }
    if (this.state !== 'opened') throw new StreamFrameError(Code.UnknownFrame, `command ${key} before the connection is open`);
    switch (key) {
      case Cmd.Publish: return this.publishers.publish(r, version);
      case Cmd.DeclarePublisher: return this.publishers.declare(r);
      case Cmd.DeletePublisher: return this.publishers.delete(r);
      case Cmd.QueryPublisherSequence: return this.publishers.querySequence(r);
      case Cmd.Subscribe: return this.subscriptions.subscribe(r);
      case Cmd.Credit: return this.subscriptions.credit(r);
      case Cmd.Unsubscribe: return this.subscriptions.unsubscribe(r);
      case Cmd.StoreOffset: return this.commands.storeOffset(r);
      case Cmd.QueryOffset: return this.commands.queryOffset(r);
      case Cmd.Create: return this.commands.create(r);
      case Cmd.Delete: return this.commands.delete(r);
      case Cmd.Metadata: return this.commands.metadata(r);
      case Cmd.Route: return this.commands.route(r);
      case Cmd.Partitions: return this.commands.partitions(r);
      case Cmd.StreamStats: return this.commands.stats(r);
      case Cmd.CreateSuperStream: return this.commands.createSuperStream(r);
      case Cmd.DeleteSuperStream: return this.commands.deleteSuperStream(r);
      case Cmd.ExchangeCommandVersions: return this.exchangeCommandVersions(r);
      default:
        throw new StreamFrameError(Code.UnknownFrame, `unknown command ${key}`);
    }
  }

  // ---- handshake ----------------------------------------------------------------------------------

  private expect(state: State, what: string): void {
    if (this.state !== state) throw new StreamFrameError(Code.UnknownFrame, `${what} in state ${this.state}`);
  }

  private peerProperties(r: FieldReader): void {
    this.expect('peer-properties', 'peer properties');
    const corr = r.u32();
    this.clientProperties = r.properties();
    const w = this.w.response(Cmd.PeerProperties, corr, Code.Ok);
    w.properties([
      ['product', 'Warren'], ['version', PROTOCOL_LEVEL_VERSION], ['platform', `Node.js ${process.version}`],
      ['copyright', 'Warren contributors'], ['information', 'Warren: a RabbitMQ-compatible broker on a segmented log'],
      ['cluster_name', 'warren'],
    ]);
    this.send(w.end());
    this.state = 'sasl';
  }

  private saslHandshake(r: FieldReader): void {
    this.expect('sasl', 'SASL handshake');
    const corr = r.u32();
    this.send(this.w.response(Cmd.SaslHandshake, corr, Code.Ok).i32(1).string('PLAIN').end());
    this.state = 'authenticate';
  }

  private saslAuthenticate(r: FieldReader): void {
    if (this.state !== 'authenticate' && this.state !== 'sasl') throw new StreamFrameError(Code.UnknownFrame, `SASL authenticate in state ${this.state}`);
    const corr = r.u32();
    const mechanism = r.string();
    const data = r.bytes() ?? Buffer.alloc(0);
    if (mechanism !== 'PLAIN') {
      this.send(this.w.response(Cmd.SaslAuthenticate, corr, Code.SaslMechanismNotSupported).end());
      return;
    }
    const parts = data.toString('utf8').split('\0');
    const res = parts.length === 3 ? this.broker.authenticate(parts[1], parts[2], this.socket.remoteAddress) : 'malformed PLAIN response';
    if (typeof res === 'string') {
      log.warn(`Stream connection ${this.name}: login refused: ${res}`);
      const code = /only connect via localhost/.test(res) ? Code.SaslAuthenticationFailureLoopback : Code.AuthenticationFailure;
      this.send(this.w.response(Cmd.SaslAuthenticate, corr, code).end());
      this.out.flush();
      this.state = 'closing';
      this.armCloseTimer();
      return;
    }
    this.user = res;
    this.send(this.w.response(Cmd.SaslAuthenticate, corr, Code.Ok).end());
    this.send(this.w.begin(Cmd.Tune).u32(this.config.frameMax).u32(this.config.heartbeat).end());
    this.state = 'tune';
  }

  private tune(r: FieldReader): void {
    this.expect('tune', 'tune');
    const frameMax = r.u32();
    const heartbeat = r.u32();
    this.frameMax = frameMax === 0 ? this.config.frameMax : Math.min(frameMax, this.config.frameMax || frameMax);
    this.heartbeat = heartbeat;
    this.splitter.maxFrame = this.frameMax;
    this.state = 'open';
  }

  private open(r: FieldReader): void {
    this.expect('open', 'open');
    const corr = r.u32();
    const name = r.string();
    const vh = this.broker.vhosts.get(name);
    if (vh === undefined || !this.broker.canAccessVhost(this.user as User, name)) {
      log.warn(`Stream connection ${this.name}: access to vhost '${name}' refused for user '${this.user?.name}'`);
      this.send(this.w.response(Cmd.Open, corr, Code.VirtualHostAccessFailure).end());
      this.out.flush();
      this.state = 'closing';
      this.armCloseTimer();
      return;
    }
    this.vhost = vh;
    this.state = 'opened';
    const w = this.w.response(Cmd.Open, corr, Code.Ok);
    w.properties([['advertised_host', this.advertisedHost], ['advertised_port', String(this.config.port)]]);
    this.send(w.end());
    log.info(`Stream connection ${this.name}: user '${this.user?.name}' authenticated and granted access to vhost '${name}'`);
  }

  /** The address the client reached us on: what metadata tells it to connect to. */
  get advertisedHost(): string {
    const a = this.socket.localAddress ?? '127.0.0.1';
    return a.startsWith('::ffff:') ? a.slice(7) : a;
  }

  private exchangeCommandVersions(r: FieldReader): void {
    const corr = r.u32();
    const n = r.count(6);
    for (let i = 0; i < n; i++) {
      const key = r.u16();
      r.u16();
      const max = r.u16();
      if (key === Cmd.Deliver && max >= 2) this.deliverV2 = true;
    }
    const w = this.w.response(Cmd.ExchangeCommandVersions, corr, Code.Ok).i32(SERVER_VERSIONS.length);
    for (const [k, min, max] of SERVER_VERSIONS) w.u16(k).u16(min).u16(max);
    this.send(w.end());
  }

  // ---- helpers for the command modules -----------------------------------------------------------

  send(frame: Buffer): void {
    // responses carry a code: errors are counted for Prometheus (credit's has no correlation id)
    if ((frame[4] & 0x80) !== 0) {
      const at = frame.readUInt16BE(4) === (Cmd.Credit | RESPONSE) ? 8 : 12;
      if (frame.length >= at + 2) countStreamError(frame.readUInt16BE(at));
    }
    this.out.write(frame);
    this.lastWrite = Date.now();
  }

  /** Answer a request with only a code. */
  respond(key: number, corr: number, code: number): void {
    this.send(this.w.response(key, corr, code).end());
  }

  permitted(kind: 'configure' | 'write' | 'read', resource: string): boolean {
    return permits(this.broker, (this.user as User).name, (this.vhost as VHost).name, kind, resource);
  }

  /** Server-initiated close with a protocol code; the socket goes after close-ok or a second. */
  closeWith(code: number, reason: string): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    countStreamError(code);
    this.publishers.closeAll();
    this.subscriptions.closeAll();
    try {
      this.send(this.w.begin(Cmd.Close).u32(1).u16(code).string(reason.slice(0, 2000)).end());
      this.out.flush();
    } catch {
      /* the socket is gone */
    }
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null) return;
    this.closeTimer = setTimeout(() => this.destroy(), 1000);
    this.closeTimer.unref();
  }

  /** Heartbeats, from the server's one timer. */
  tick(now: number): void {
    if (this.state !== 'opened' || this.heartbeat <= 0) return;
    const ms = this.heartbeat * 1000;
    if (!this.paused && now - this.lastRead > 2 * ms) {
      log.warn(`Stream connection ${this.name}: missed heartbeats from the client (${this.heartbeat} s); closing it`);
      this.destroy();
      return;
    }
    if (now - this.lastWrite >= ms / 2) {
      this.send(this.w.begin(Cmd.Heartbeat).end());
      this.out.flush();
    }
  }

  /** Broker shutdown. */
  shutdown(): void {
    this.closeWith(Code.Ok, 'broker shutting down');
  }

  destroy(): void {
    if (this.state === 'closed') return;
    this.socket.destroy();
    this.onClosed();
  }

  private onClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.publishers.closeAll();
    this.subscriptions.closeAll();
    this.out.kill();
    this.gone(this);
    log.debug(`Stream connection ${this.name} closed`);
  }
}
