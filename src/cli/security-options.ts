// `warren start` options for TLS, authentication and limits (docs/security.md).
import { type Command, Option } from 'commander';
import type { AppOptions } from '../app';
import { CERT_LOGIN_FROM, type CertLoginFrom } from '../broker/auth/mechanisms';
import { MAX_MAX_MESSAGE_SIZE } from '../server/content-limits';
import type { TlsFiles } from '../server/tls';

export interface StartSecurityFlags {
  tlsPort?: string; tlsCert?: string; tlsKey?: string; tlsCa?: string; tlsVerifyPeer?: boolean; tlsFailIfNoPeerCert?: boolean;
  tlsCertLoginFrom?: CertLoginFrom;
  streamTlsPort?: string;
  httpTlsPort?: string; httpTlsCert?: string; httpTlsKey?: string; httpTlsCa?: string; httpTlsVerifyPeer?: boolean; httpTlsFailIfNoPeerCert?: boolean;
  loopbackUsers?: string; maxConnections?: string; maxMessageSize?: string; handshakeTimeout?: string; authFailureDelay?: string;
}

export function addSecurityOptions(cmd: Command): void {
  cmd
    .option('--tls-port <port>', 'AMQP over TLS (amqps) on this port, beside --port')
    .option('--tls-cert <file>', 'TLS certificate chain (PEM) for --tls-port')
    .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
    .option('--tls-ca <file>', 'CA certificates (PEM) client certificates are verified against')
    .option('--tls-verify-peer', 'ask clients for a certificate and refuse one the CA does not vouch for')
    .option('--tls-fail-if-no-peer-cert', 'also refuse clients without a certificate (implies --tls-verify-peer)')
    .option('--stream-tls-port <port>', 'the Stream protocol over TLS on this port (RabbitMQ: 5551), with --tls-cert, --tls-key and the --tls-* client checks')
    .addOption(new Option('--tls-cert-login-from <field>', 'user name for EXTERNAL logins').choices(CERT_LOGIN_FROM as string[]).default('common_name'))
    .option('--http-tls-port <port>', 'HTTPS management API on this port, beside --http-port (same certificate unless --http-tls-cert)')
    .option('--http-tls-cert <file>', 'TLS certificate for --http-tls-port (default: --tls-cert)')
    .option('--http-tls-key <file>', 'private key of --http-tls-cert (default: --tls-key)')
    .option('--http-tls-ca <file>', 'CA for HTTPS client certificates (default: --tls-ca)')
    .option('--http-tls-verify-peer', 'HTTPS: ask clients for a certificate and verify it')
    .option('--http-tls-fail-if-no-peer-cert', 'HTTPS: refuse clients without a certificate')
    .option('--loopback-users <names>', 'comma-separated users allowed from loopback addresses only ("" for none)', 'guest')
    .option('--max-connections <n>', 'AMQP connections the node accepts at most (checked at connection.open; default: no limit)')
    .option('--max-message-size <bytes>', `largest message body accepted (at most ${MAX_MAX_MESSAGE_SIZE})`, String(128 * 1024 * 1024))
    .option('--handshake-timeout <ms>', 'close a connection that has not completed connection.open within this time', '10000')
    .option('--auth-failure-delay <ms>', 'answer a refused login after this delay', '1000');
}

function int(flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag}: expected an integer from ${min} to ${max}, got '${v}'`);
  return n;
}

// A listener on the AMQP certificate, key, CA and client checks (amqps, the Stream protocol's TLS).
function listenerTls(o: StartSecurityFlags, flag: string, port: string): TlsFiles & { port: number } {
  if (!o.tlsCert || !o.tlsKey) throw new Error(`${flag} needs --tls-cert and --tls-key`);
  const t = {
    port: int(flag, port, 0, 65535), certFile: o.tlsCert, keyFile: o.tlsKey, caFile: o.tlsCa,
    verifyPeer: o.tlsVerifyPeer === true, failIfNoPeerCert: o.tlsFailIfNoPeerCert === true,
  };
  if ((t.verifyPeer || t.failIfNoPeerCert) && !o.tlsCa) throw new Error('--tls-verify-peer and --tls-fail-if-no-peer-cert need --tls-ca');
  return t;
}

export function securityOptions(o: StartSecurityFlags): Partial<AppOptions> {
  const out: Partial<AppOptions> = {};
  if (o.tlsPort !== undefined) out.tls = listenerTls(o, '--tls-port', o.tlsPort);
  if (o.streamTlsPort !== undefined) out.streamTls = listenerTls(o, '--stream-tls-port', o.streamTlsPort);
  if (o.httpTlsPort !== undefined) {
    const cert = o.httpTlsCert ?? o.tlsCert;
    const key = o.httpTlsKey ?? o.tlsKey;
    if (!cert || !key) throw new Error('--http-tls-port needs --http-tls-cert and --http-tls-key (or --tls-cert and --tls-key)');
    out.httpTls = {
      port: int('--http-tls-port', o.httpTlsPort, 0, 65535), certFile: cert, keyFile: key, caFile: o.httpTlsCa ?? o.tlsCa,
      verifyPeer: o.httpTlsVerifyPeer === true, failIfNoPeerCert: o.httpTlsFailIfNoPeerCert === true,
    };
    if ((out.httpTls.verifyPeer || out.httpTls.failIfNoPeerCert) && !out.httpTls.caFile) throw new Error('--http-tls-verify-peer needs --http-tls-ca or --tls-ca');
  }
  out.certLoginFrom = o.tlsCertLoginFrom;
  if (o.loopbackUsers !== undefined) out.loopbackUsers = o.loopbackUsers.split(',').map((s) => s.trim()).filter(Boolean);
  if (o.maxConnections !== undefined) out.maxConnections = int('--max-connections', o.maxConnections, 0);
  if (o.maxMessageSize !== undefined) out.maxMessageSize = int('--max-message-size', o.maxMessageSize, 1, MAX_MAX_MESSAGE_SIZE);
  if (o.handshakeTimeout !== undefined) out.handshakeTimeoutMs = int('--handshake-timeout', o.handshakeTimeout, 100);
  if (o.authFailureDelay !== undefined) out.authFailureDelayMs = int('--auth-failure-delay', o.authFailureDelay, 0);
  return out;
}
