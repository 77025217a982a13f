// The parts of the connection handshake that are data, not state: what the broker announces in
// connection.start and how connection.tune-ok's values are checked and settled.
import type { ConnectionStart, ConnectionTuneOk } from '../protocol';
import type { CertLoginFrom } from '../broker/auth/mechanisms';
import { AmqpError, ReplyCode } from '../broker/errors';

export interface ServerConfig {
  channelMax: number;
  frameMax: number;
  heartbeat: number;
  product: string;
  version: string;
  /** an unacked delivery older than this closes its channel with 406 (0: never) */
  consumerTimeoutMs: number;
  // Security and limits (docs/security.md); absent means RabbitMQ's defaults.
  handshakeTimeoutMs?: number;       // connect to connection.open-ok (default 10 s)
  authFailureDelayMs?: number;       // a refused login is answered this much later (default 1 s)
  maxConnections?: number | null;    // per node, checked at connection.open (default: none)
  connectionCount?: () => number;    // sockets currently open on the node's AMQP listeners
  certLoginFrom?: CertLoginFrom;     // EXTERNAL: which certificate field names the user
  maxMessageSize?: number;           // default 128 MiB (src/server/content-limits.ts)
}

// RabbitMQ's frame_max before connection.tune-ok (?FRAME_MIN_SIZE): nothing larger is buffered
// from a client that has not logged in.
export const PRE_TUNE_FRAME_MAX = 4096;

/** connection.start; EXTERNAL is offered only to a client that presented a verified certificate. */
export function connectionStart(c: ServerConfig, external: boolean, clusterName: string): ConnectionStart {
  return {
    name: 'connection.start',
    versionMajor: 0,
    versionMinor: 9,
    serverProperties: {
      product: c.product,
      version: c.version,
      platform: `Node.js ${process.version}`,
      copyright: 'Warren contributors',
      information: 'Warren: an AMQP 0-9-1 broker on a segmented log',
      cluster_name: clusterName,
      capabilities: {
        publisher_confirms: true,
        exchange_exchange_bindings: true,
        'basic.nack': true,
        consumer_cancel_notify: true,
        'connection.blocked': true,
        consumer_priorities: true,
        authentication_failure_close: true,
        per_consumer_qos: true,
        direct_reply_to: true,
      },
    },
    mechanisms: Buffer.from(external ? 'EXTERNAL PLAIN AMQPLAIN' : 'PLAIN AMQPLAIN'),
    locales: Buffer.from('en_US'),
  };
}

/** The values a connection runs with after tune-ok (0 means "the server's"); out of range: 530. */
export function negotiateTune(c: ServerConfig, m: ConnectionTuneOk): { frameMax: number; channelMax: number; heartbeat: number } {
  // As RabbitMQ words it (rabbit_reader:validate_negotiated_integer_value), naming connection.tune.
  const refuse = (field: string, v: number, how: string, limit: number) => new AmqpError(ReplyCode.NOT_ALLOWED,
    `negotiated ${field} = ${v} is ${how === 'min' ? 'lower than the minimum' : 'higher than the maximum'} allowed value (${limit})`, 10, 30);
  if (m.frameMax !== 0 && m.frameMax < 4096) throw refuse('frame_max', m.frameMax, 'min', 4096);
  if (m.frameMax > c.frameMax) throw refuse('frame_max', m.frameMax, 'max', c.frameMax);
  if (m.channelMax > c.channelMax) throw refuse('channel_max', m.channelMax, 'max', c.channelMax);
  return {
    frameMax: m.frameMax === 0 ? c.frameMax : m.frameMax,
    channelMax: m.channelMax === 0 ? c.channelMax : m.channelMax,
    heartbeat: m.heartbeat,
  };
}
