// One client connection: protocol header, the connection class handshake (start, secure, tune,
// open), SASL, heartbeats, channel multiplexing and the close handshakes.
import * as os from 'node:os';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  type AnyMethod, FrameReader, PROTOCOL_HEADER, HEARTBEAT_FRAME,
  checkProtocolHeader, encodeMethodFrame, METHOD_INFO, connectionBlockedFrame, CONNECTION_UNBLOCKED,
} from '../protocol';
// Per frame: from its module, not through the index's re-export getters.
import { decodeMethod } from '../protocol/generated';
import type { Broker } from '../broker/broker';
import type { VHost } from '../broker/vhost';
import type { Queue } from '../broker/queue';
import type { User } from '../broker/users';
import { SessionAccess } from '../broker/auth/access-control';
import { certUserName, countLogin } from '../broker/auth/mechanisms';
import { UPDATE_SECRET, UPDATE_SECRET_OK, login, updateSecret } from './connection-auth';
import { type ServerConfig, PRE_TUNE_FRAME_MAX, connectionStart, negotiateTune } from './handshake';
import { AmqpError, ReplyCode } from '../broker/errors';
import { Channel } from './channel';
import type { ChannelHost } from './channel-host';
import { ConnectionAsHost } from './connection-host';
import { OutBuffer } from './out-buffer';
import { log } from '../logger';
import { logInternalError, methodContext } from './last-guard';
import { heartbeats } from './heartbeat-wheel';
import { counters } from '../broker/counters';
import { InputGate, type HeldFrame } from './input-gate';

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_AUTH_FAILURE_DELAY_MS = 1000;
// Stop reading from a client while this much output to it is unsent (it does not read).
const MAX_UNSENT_OUTPUT = 16 * 1024 * 1024;

const FRAME_METHOD = 1, FRAME_HEADER = 2, FRAME_BODY = 3, FRAME_HEARTBEAT = 8;
// Stop dispatching to this connection's consumers while this much output is unsent.
const OUTPUT_HIGH_WATER = 4 * 1024 * 1024;

type State = 'header' | 'start' | 'secure' | 'tune' | 'open-wait' | 'open' | 'closing' | 'closed';

export class Connection {
  readonly out: OutBuffer;
  private readonly reader: FrameReader;
  private state: State = 'header';
  private headerBuf: Buffer | null = null;
  private readonly channels = new Map<number, Channel>();
  private readonly channelsById: Array<Channel | undefined> = [];
  // Channels that saw frames in the current socket chunk (for confirm batching).
  private readonly touched: Channel[] = [];
  channelMax: number;
  frameMax: number;
  heartbeat = 0;
  user: User | null = null;
  vhost: VHost | null = null;
  clientProperties: Record<string, unknown> = {};
  private capabilities: Record<string, unknown> = {};
  private mechanism = '';
  lastRecv = Date.now();
  private closeTimer: NodeJS.Timeout | null = null;
  readonly name: string;
  readonly connectedAt = Date.now();
  private blockedWaiting = false;
  isPublisher = false;  // read by the management API (rabbitmq_global_publishers)
  // Why the socket is not read from (alarm, flow control, unread output), and the frames held.
  private readonly gate: InputGate;
  // Permission checks and limits of the user in the vhost; set at connection.open.
  access!: SessionAccess;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private refusalTimer: NodeJS.Timeout | null = null;
  // EXTERNAL: the user name of the verified client certificate (null when there is none).
  private certUser: string | null = null;
  readonly tls: boolean;

  constructor(
    readonly socket: Socket,
    readonly broker: Broker,
    readonly config: ServerConfig,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.name = `${socket.remoteAddress}:${socket.remotePort} -> ${socket.localAddress}:${socket.localPort}`;
    this.channelMax = config.channelMax;
    this.frameMax = config.frameMax;
    this.out = new OutBuffer(socket);
    this.reader = new FrameReader(PRE_TUNE_FRAME_MAX);
    this.gate = new InputGate(socket, (frames) => this.replay(frames));
    this.tls = (socket as TLSSocket).encrypted === true;
    if (this.tls && (socket as TLSSocket).authorized) {
      this.certUser = certUserName((socket as TLSSocket).getPeerCertificate(), config.certLoginFrom ?? 'common_name');
    }
    this.handshakeTimer = setTimeout(() => this.handshakeTimedOut(), config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      if (this.state !== 'closed') log.info(`connection ${this.name}: socket error: ${err.message}`);
    });
    socket.on('close', () => this.onSocketClose());
    socket.on('drain', () => this.onDrain());
    log.info(`accepting AMQP connection ${this.name}`);
  }

  get outputBlocked(): boolean {
    if (this.out.backlog < OUTPUT_HIGH_WATER) return false;
    this.blockedWaiting = true;
    return true;
  }

  private onDrain(): void {
    if (this.gate.pausedForOutput && this.out.backlog < MAX_UNSENT_OUTPUT) this.gate.outputDrained();
    if (!this.blockedWaiting) return;
    this.blockedWaiting = false;
    for (const ch of this.channels.values()) ch.kickConsumers();
  }

  // RabbitMQ blocks only connections that publish: consumers keep draining during an alarm.
  notePublisher(): void {
    if (this.isPublisher) return;
    this.isPublisher = true;
    if (this.broker.disk.alarmed) this.setAlarm(true, this.broker.disk.reason);
  }

  // While blocked nothing more is read from the socket, and channel frames already read (the
  // rest of the current chunk, from the publish that found the alarm on) are held (input-gate.ts).
  setAlarm(active: boolean, reason: string): void {
    if (this.state === 'closed') return;
    if (active && this.isPublisher && !this.gate.alarmed) {
      if (this.capability('connection.blocked')) this.out.write(connectionBlockedFrame(reason));
      this.out.flush();
      this.gate.blockForAlarm();
    } else if (!active && this.gate.alarmed) {
      if (this.capability('connection.blocked')) this.out.write(CONNECTION_UNBLOCKED);
      this.out.flush();
      this.gate.unblockAlarm();
    }
  }

  private replay(frames: HeldFrame[]): void {
    try {
      for (const [type, channel, payload] of frames) this.onFrame(type, channel, payload, 0, payload.length);
    } catch (e) {
      this.fail(e);
    }
    this.endChunk();
  }

  // Publisher flow control (see Queue.shouldThrottle).
  throttle(q: Queue): void {
    if (this.state !== 'closed') this.gate.throttle(q);
  }

  capability(name: string): boolean {
    return this.capabilities[name] === true;
  }

  // ---- input ------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastRecv = Date.now();
    if (this.state === 'closed') return;
    if (this.state === 'header') {
      const buf = this.headerBuf ? Buffer.concat([this.headerBuf, chunk]) : chunk;
      const r = checkProtocolHeader(buf);
      if (r === 'need-more') { this.headerBuf = buf; return; }
      this.headerBuf = null;
      if (r === 'mismatch') {
        log.info(`connection ${this.name}: bad protocol header, answering with AMQP 0-9-1`);
        this.socket.end(PROTOCOL_HEADER);
        this.state = 'closed';
        return;
      }
      this.sendStart();
      this.state = 'start';
      chunk = buf.subarray(8);
      if (chunk.length === 0) return;
    }
    try {
      this.reader.pushRange(chunk, this.onFrame);
    } catch (e) {
      this.fail(e);
    }
    this.endChunk();
  }

  private endChunk(): void {
    const touched = this.touched;
    for (let i = 0; i < touched.length; i++) { touched[i].touched = false; touched[i].endOfChunk(); }
    touched.length = 0;
  }

  private readonly onFrame = (type: number, channel: number, buf: Buffer, start: number, end: number): void => {
    if (this.state === 'closed') return;
    if (type === FRAME_HEARTBEAT) {
      if (channel !== 0) throw new AmqpError(ReplyCode.FRAME_ERROR, `heartbeat frame on non-zero channel ${channel}`);
      return;
    }
    if (channel === 0) {
      if (type !== FRAME_METHOD) throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `unexpected frame type ${type} on channel 0`);
      if (end - start >= 4 && buf.readUInt32BE(start) === UPDATE_SECRET) { this.onUpdateSecret(buf.subarray(start + 4, end)); return; }
      this.onConnectionMethod(decodeMethod(buf.subarray(start, end)));
      return;
    }
    if (this.state !== 'open') {
      if (this.state === 'closing') return;
      throw new AmqpError(ReplyCode.CHANNEL_ERROR, `frame on channel ${channel} before the connection was opened`);
    }
    if (this.gate.hold(type, channel, buf, start, end)) return;
    if (this.out.backlog > MAX_UNSENT_OUTPUT) { this.gate.pauseForOutput(); this.gate.hold(type, channel, buf, start, end); return; }
    // The first publish of a connection makes it a publisher: blocked at once if an alarm is on.
    if (!this.isPublisher && type === FRAME_METHOD && end - start >= 4 && buf.readUInt32BE(start) === 0x003c0028) {
      this.notePublisher();
      if (this.gate.hold(type, channel, buf, start, end)) return;
    }
    let ch = this.channelsById[channel];
    if (ch !== undefined && ch.held !== null) { ch.held.push([type, Buffer.from(buf.subarray(start, end))]); return; }
    if (ch !== undefined && !ch.touched) { ch.touched = true; this.touched.push(ch); }
    if (type === FRAME_METHOD) {
      // basic.publish (60, 40) takes a decoder of its own: it is most of the traffic.
      if (ch !== undefined && end - start >= 9 && buf.readUInt32BE(start) === 0x003c0028) {
        try {
          ch.onPublish(buf, start, end);
        } catch (e) {
          this.handleChannelError(ch, e, null);
        }
        return;
      }
      const m = decodeMethod(buf.subarray(start, end));
      if (!ch) {
        if (m.name !== 'channel.open') throw new AmqpError(ReplyCode.CHANNEL_ERROR, `expected 'channel.open' on channel ${channel}, got '${m.name}'`);
        // RabbitMQ: 530 NOT_ALLOWED once the negotiated channel_max is reached.
        if (channel > this.channelMax) throw new AmqpError(ReplyCode.NOT_ALLOWED, `channel number ${channel} is above the negotiated channel_max (${this.channelMax})`, 20, 10);
        this.access.channelOpening();
        ch = new Channel(this.channelHost, channel);
        counters.channelsOpened++;
        this.channels.set(channel, ch);
        this.channelsById[channel] = ch;
        this.sendMethod(channel, { name: 'channel.open-ok' });
        return;
      }
      try {
        ch.onMethod(m);
      } catch (e) {
        this.handleChannelError(ch, e, m);
      }
      return;
    }
    if (!ch) throw new AmqpError(ReplyCode.CHANNEL_ERROR, `content frame on channel ${channel} which is not open`);
    try {
      if (type === FRAME_HEADER) ch.onHeader(buf, start, end);
      else if (type === FRAME_BODY) ch.onBody(buf.subarray(start, end));
      else throw new AmqpError(ReplyCode.FRAME_ERROR, `unknown frame type ${type}`);
    } catch (e) {
      this.handleChannelError(ch, e, null);
    }
  };

  // A channel waits for durable definitions to reach the disk before its reply goes out
  // (Channel.replyWhenDurable); its later frames wait in ch.held and run after the reply.
  holdChannel(id: number, synced: Promise<void>, reply: AnyMethod): void {
    const ch = this.channelsById[id];
    if (ch === undefined) return;
    ch.held ??= [];
    synced.then(() => {
      if (ch.state === 'open' && this.state === 'open') this.sendMethod(ch.id, reply);
    }, (err: Error) => {
      // Named after the method the reply answers (queue.declare for queue.declare-ok).
      const ids = methodIds({ name: reply.name.replace(/-ok$/, '') } as AnyMethod);
      ch.channelError(new AmqpError(ReplyCode.INTERNAL_ERROR, `could not store the change on disk: ${err.message}`), ids[0], ids[1]);
    }).then(() => this.releaseChannel(ch));
  }

  private releaseChannel(ch: Channel): void {
    const frames = ch.held;
    ch.held = null;
    if (frames === null || frames.length === 0 || this.state === 'closed') return;
    // An alarm holds the whole connection meanwhile: these frames go first in its queue.
    const mine = frames.map(([t, p]) => [t, ch.id, p] as HeldFrame);
    if (this.gate.holdFirst(mine)) return;
    // A frame that makes the channel wait again sends the rest back into ch.held, in order.
    this.replay(mine);
  }

  private channelContext(ch: Channel): string {
    return `connection ${this.name} (vhost '${this.vhost?.name ?? ''}', user '${this.user?.name ?? ''}'), channel ${ch.id}`;
  }

  private handleChannelError(ch: Channel, e: unknown, m: AnyMethod | null): void {
    if (!(e instanceof AmqpError)) logInternalError(`${this.channelContext(ch)}, ${methodContext(m)}`, e);
    const err = toAmqpError(e);
    const ids = m ? methodIds(m) : [60, 40];
    // A hard error closes the connection; connection.close names the method, as RabbitMQ does.
    if (err.hard) throw err.withMethod(ids[0], ids[1]);
    log.debug(`connection ${this.name}, channel ${ch.id}: ${err.replyText}`);
    ch.channelError(err, ids[0], ids[1]);
  }

  // ---- connection class -----------------------------------------------------------------------------

  private sendStart(): void {
    // federation links name their upstream by cluster_name (x-received-from), so it is the node's
    // real cluster name, as /api/overview shows it
    this.sendMethod(0, connectionStart(this.config, this.certUser !== null, this.broker.runtime.clusterName ?? `warren@${os.hostname()}`));
  }

  private onConnectionMethod(m: AnyMethod): void {
    if (this.state === 'closing') {
      if (m.name === 'connection.close-ok') this.destroy();
      else if (m.name === 'connection.close') { this.sendMethod(0, { name: 'connection.close-ok' }); this.out.flush(); this.destroy(); }
      return;
    }
    switch (m.name) {
      case 'connection.start-ok': {
        if (this.state !== 'start') break;
        this.clientProperties = m.clientProperties as Record<string, unknown>;
        const caps = this.clientProperties['capabilities'];
        this.capabilities = caps && typeof caps === 'object' ? (caps as Record<string, unknown>) : {};
        this.mechanism = m.mechanism;
        this.authenticate(m.mechanism, m.response);
        return;
      }
      case 'connection.secure-ok':
        if (this.state !== 'secure') break;
        this.authenticate(this.mechanism, m.response);
        return;
      case 'connection.tune-ok': {
        if (this.state !== 'tune') break;
        const t = negotiateTune(this.config, m);
        this.frameMax = t.frameMax;
        this.channelMax = t.channelMax;
        this.heartbeat = t.heartbeat;
        this.reader.setMaxFrameSize(this.frameMax);
        this.state = 'open-wait';
        heartbeats.start(this);
        return;
      }
      case 'connection.open': {
        if (this.state !== 'open-wait') break;
        const vh = this.broker.vhosts.get(m.virtualHost);
        this.openingVhost = m.virtualHost;
        try {
          this.access = SessionAccess.open(this.broker.auth, this, vh !== undefined, this.config.maxConnections ?? null, this.config.connectionCount?.() ?? 0);
        } catch (e) {
          if (e instanceof AmqpError) throw e.withMethod(10, 40);
          throw e;
        }
        this.vhost = vh!;
        this.state = 'open';
        this.clearHandshakeTimer();
        this.sendMethod(0, { name: 'connection.open-ok' });
        // Counted from here, as RabbitMQ does: the first heartbeat goes out H/2 after open-ok.
        this.out.flush();
        heartbeats.start(this);
        log.info(`connection ${this.name}: user '${this.user!.name}' authenticated and granted access to vhost '${vh!.name}'`);
        return;
      }
      case 'connection.close':
        this.sendMethod(0, { name: 'connection.close-ok' });
        this.out.flush();
        log.info(`closing AMQP connection ${this.name} (vhost '${this.vhost?.name ?? ''}', user '${this.user?.name ?? ''}'): client closed, ${m.replyCode} ${m.replyText}`);
        this.destroy();
        return;
      case 'connection.close-ok':
        this.destroy();
        return;
      default:
        break;
    }
    throw new AmqpError(ReplyCode.COMMAND_INVALID, `unexpected method '${m.name}' on channel 0 in state ${this.state}`);
  }

  private authenticate(mechanism: string, response: Buffer): void {
    const res = login(this.broker.auth, mechanism, response, this.certUser, this.socket.remoteAddress);
    if (typeof res === 'string') return this.refuseLogin(res, mechanism);
    countLogin(true);
    this.user = res;
    this.state = 'tune';
    this.sendMethod(0, { name: 'connection.tune', channelMax: this.config.channelMax, frameMax: this.config.frameMax, heartbeat: this.config.heartbeat });
  }

  // A refused login is logged with the peer's address, counted, and answered only after a delay
  // (RabbitMQ waits too), so that guessing passwords over one connection after another is slow.
  // Nothing the client sends meanwhile is read.
  private refuseLogin(why: string, mechanism = this.mechanism): void {
    countLogin(false);
    log.warn(`connection ${this.name}: ${mechanism} login refused: ${why}`);
    this.clearHandshakeTimer();
    this.state = 'closing';
    this.socket.pause();
    this.refusalTimer = setTimeout(() => {
      this.refusalTimer = null;
      if ((this.state as State) === 'closed') return;
      if (this.capability('authentication_failure_close')) {
        const text = `ACCESS_REFUSED - Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`;
        this.sendMethod(0, { name: 'connection.close', replyCode: ReplyCode.ACCESS_REFUSED, replyText: text, classId: 10, methodId: 11 });
        this.out.flush();
        this.socket.resume();
        this.armCloseTimer();
      } else {
        this.destroy();
      }
    }, this.config.authFailureDelayMs ?? DEFAULT_AUTH_FAILURE_DELAY_MS);
    this.refusalTimer.unref();
  }

  private handshakeTimedOut(): void {
    this.handshakeTimer = null;
    if (this.state === 'open' || this.state === 'closing' || this.state === 'closed') return;
    log.warn(`closing AMQP connection ${this.name}: handshake not completed within ${(this.config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS) / 1000} s (state ${this.state})`);
    this.socket.destroy();
    this.onSocketClose();
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) { clearTimeout(this.handshakeTimer); this.handshakeTimer = null; }
  }

  // connection.update-secret (connection-auth.ts).
  private onUpdateSecret(args: Buffer): void {
    if (this.state !== 'open') {
      throw new AmqpError(ReplyCode.COMMAND_INVALID, `unexpected method 'connection.update-secret' on channel 0 in state ${this.state}`, 10, 70);
    }
    const { user, reason } = updateSecret(this.broker.auth, this.user!.name, this.mechanism, this.vhost!.name, args);
    this.user = user;
    this.out.write(UPDATE_SECRET_OK);
    log.info(`connection ${this.name}: user '${user.name}' updated secret, reason: ${reason}`);
  }

  // ---- for the connection tracker (src/broker/auth/limits.ts) --------------------------------------

  get userName(): string { return this.user?.name ?? ''; }
  get vhostName(): string { return this.vhost?.name ?? this.openingVhost; }
  private openingVhost = '';

  forceClose(explanation: string): void {
    log.info(`closing AMQP connection ${this.name}: ${explanation}`);
    this.closeWithError(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${explanation}`, 0, 0);
  }

  // ---- output -------------------------------------------------------------------------------------

  sendMethod(channel: number, m: AnyMethod): void {
    this.out.write(encodeMethodFrame(channel, m));
  }

  sendHeartbeat(): void {
    this.out.write(HEARTBEAT_FRAME);
    this.out.flush();
  }

  // ---- errors and closing -------------------------------------------------------------------------

  private fail(e: unknown): void {
    const err = toAmqpError(e);
    if (!(e instanceof AmqpError)) {
      logInternalError(`connection ${this.name} (vhost '${this.vhost?.name ?? ''}', user '${this.user?.name ?? ''}')`, e);
    }
    this.closeWithError(err.code, err.replyText, err.classId, err.methodId);
  }

  closeWithError(code: number, text: string, classId: number, methodId: number): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    log.warn(`closing AMQP connection ${this.name}: ${text}`);
    this.teardownChannels();
    if (this.state === 'header') { this.destroy(); return; }
    this.sendMethod(0, { name: 'connection.close', replyCode: code, replyText: text, classId, methodId });
    this.out.flush();
    this.state = 'closing';
    this.armCloseTimer();
  }

  // Server shutdown: connection.close 320 to every client.
  shutdown(): void {
    this.closeWithError(ReplyCode.CONNECTION_FORCED, 'CONNECTION_FORCED - broker shutting down', 0, 0);
  }

  private armCloseTimer(): void {
    this.closeTimer = setTimeout(() => this.destroy(), 2000);
    this.closeTimer.unref();
  }

  // Timers stop and the connection stops counting against its limits.
  private released(): void {
    this.clearHandshakeTimer();
    if (this.refusalTimer) { clearTimeout(this.refusalTimer); this.refusalTimer = null; }
    if (this.vhost !== null && this.access !== undefined) this.access.close(this);
  }

  channelClosed(id: number): void {
    const ch = this.channels.get(id);
    if (ch === undefined) return;
    this.access.channelsClosed(1);
    ch.teardown();
    if (this.channels.delete(id)) counters.channelsClosed++;
    this.channelsById[id] = undefined;
  }

  private readonly channelHost: ChannelHost = new ConnectionAsHost(this);

  private teardownChannels(): void {
    if (this.channels.size > 0) this.access.channelsClosed(this.channels.size);
    for (const ch of this.channels.values()) ch.teardown();
    counters.channelsClosed += this.channels.size;
    this.channels.clear();
    this.channelsById.length = 0;
    if (this.vhost) this.vhost.deleteExclusiveQueues(this);
  }

  destroy(): void {
    if (this.state === 'closed') return;
    this.released();
    heartbeats.stop(this);
    this.gate.close();
    this.teardownChannels();
    this.state = 'closed';
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.out.flush();
    this.out.kill();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onGone(this);
  }

  private onSocketClose(): void {
    this.released();
    heartbeats.stop(this);
    this.gate.close();
    if (this.state !== 'closed') {
      log.info(`connection ${this.name}: client went away without closing the connection`);
      this.teardownChannels();
      this.state = 'closed';
      this.out.kill();
      if (this.closeTimer) clearTimeout(this.closeTimer);
      this.onGone(this);
    }
  }

  // ---- heartbeats (heartbeat-wheel.ts) --------------------------------------------------------------

  get bytesWritten(): number { return this.socket.bytesWritten; }
  get receivingPaused(): boolean { return this.gate.alarmed; }

  heartbeatTimedOut(): void {
    if (this.state === 'closed') return;
    log.warn(`connection ${this.name}: missed heartbeats from client, timeout: ${this.heartbeat}s`);
    this.socket.destroy();
    this.onSocketClose();
  }

  logError(msg: string): void {
    log.error(`connection ${this.name}: ${msg}`);
  }

  get channelCount(): number { return this.channels.size; }

  // ---- read-only view for the management API (src/management) ----------------------------------
  get openChannels(): Channel[] { return [...this.channels.values()]; }
  get connectionState(): string { return this.state; }
}

function toAmqpError(e: unknown): AmqpError {
  if (e instanceof AmqpError) return e;
  return new AmqpError(ReplyCode.INTERNAL_ERROR, `internal error: ${(e as Error)?.message ?? e}`);
}

function methodIds(m: AnyMethod): [number, number] {
  for (const [id, info] of METHOD_INFO) if (info.name === m.name) return [id >>> 16, id & 0xffff];
  return [0, 0];
}
