// SASL mechanisms of connection.start-ok: PLAIN ("\0user\0password"), AMQPLAIN (a field table
// with LOGIN and PASSWORD) and EXTERNAL (the user name comes from the verified TLS client
// certificate; the response is ignored). Also the login counters read by /metrics.
import type { PeerCertificate } from 'node:tls';
import { decodeTable } from '../../protocol';

export type Credentials =
  | { mechanism: 'PLAIN' | 'AMQPLAIN'; username: string; password: string }
  | { mechanism: 'EXTERNAL'; username: string };

// Which certificate field names the user for EXTERNAL (RabbitMQ's ssl_cert_login_from).
export type CertLoginFrom = 'common_name' | 'distinguished_name' | 'subject_alternative_name';
export const CERT_LOGIN_FROM: readonly CertLoginFrom[] = ['common_name', 'distinguished_name', 'subject_alternative_name'];

// The credentials, or why the response cannot be read.
export function readCredentials(mechanism: string, response: Buffer, certUser: string | null): Credentials | string {
  if (mechanism === 'PLAIN') {
    // RabbitMQ reads "\0user\0password": an empty authorization identity, then two fields.
    if (response.length === 0 || response[0] !== 0) return 'PLAIN response does not start with a NUL byte';
    const second = response.indexOf(0, 1);
    if (second < 0) return 'PLAIN response has no password';
    return { mechanism, username: response.toString('utf8', 1, second), password: response.toString('utf8', second + 1) };
  }
  if (mechanism === 'AMQPLAIN') {
    let table;
    try {
      const withLen = Buffer.allocUnsafe(response.length + 4);
      withLen.writeUInt32BE(response.length, 0);
      response.copy(withLen, 4);
      table = decodeTable(withLen, 0).table;
    } catch (e) {
      return `AMQPLAIN response is not a field table: ${(e as Error).message}`;
    }
    const text = (v: unknown) => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined);
    const username = text(table['LOGIN']);
    const password = text(table['PASSWORD']);
    if (username === undefined || password === undefined) return 'AMQPLAIN response lacks LOGIN or PASSWORD';
    return { mechanism, username, password };
  }
  if (mechanism === 'EXTERNAL') {
    if (certUser === null) return 'no user name in the peer certificate (or no verified peer certificate)';
    return { mechanism, username: certUser };
  }
  return `unsupported authentication mechanism '${mechanism}'`;
}

// The user name a verified client certificate stands for, or null.
export function certUserName(cert: PeerCertificate | null | undefined, from: CertLoginFrom): string | null {
  if (!cert || !cert.subject) return null;
  if (from === 'common_name') {
    const cn = cert.subject.CN as string | string[] | undefined;
    const v = Array.isArray(cn) ? cn[0] : cn;
    return v ? v : null;
  }
  if (from === 'distinguished_name') {
    // RFC 4514 order: most specific attribute (CN) first.
    const parts: string[] = [];
    for (const [k, v] of Object.entries(cert.subject).reverse()) {
      for (const x of Array.isArray(v) ? v : [v]) parts.push(`${k}=${String(x).replace(/([,+"\\<>;])/g, '\\$1')}`);
    }
    return parts.length > 0 ? parts.join(',') : null;
  }
  // subject_alternative_name: the first DNS name, else the first e-mail address.
  const san = cert.subjectaltname ?? '';
  const entries = san.split(/,\s*/).map((s) => s.trim()).filter(Boolean);
  const dns = entries.find((e) => e.startsWith('DNS:'));
  if (dns) return dns.slice(4);
  const email = entries.find((e) => e.startsWith('email:'));
  return email ? email.slice(6) : null;
}

// Logins over AMQP and HTTP, for /metrics (RabbitMQ's rabbitmq_auth_attempts_* counters).
export const authCounters = { attempts: 0, succeeded: 0, failed: 0 };

export function countLogin(ok: boolean): void {
  authCounters.attempts++;
  if (ok) authCounters.succeeded++;
  else authCounters.failed++;
}

// Metric lines for the metrics module: [name, help, value].
export function authMetricLines(): Array<[string, string, number]> {
  return [
    ['rabbitmq_auth_attempts_total', 'Authentication attempts', authCounters.attempts],
    ['rabbitmq_auth_attempts_succeeded_total', 'Successful authentication attempts', authCounters.succeeded],
    ['rabbitmq_auth_attempts_failed_total', 'Failed authentication attempts', authCounters.failed],
  ];
}
