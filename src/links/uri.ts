// The URIs of shovels and federation upstreams. A URI without a host ("amqp://", "amqp:///vh")
// means this broker, as in RabbitMQ; Warren reaches itself over loopback on its own AMQP port
// with the URI's credentials (guest/guest when it has none), where RabbitMQ uses an internal
// connection that needs no login.
import { type AmqpUrl, parseAmqpUrl } from '../client';

export interface LinkTarget {
  url: AmqpUrl;
  /** the URI as shown in statuses and headers: the password removed */
  display: string;
  local: boolean;
  /** the URI's ?heartbeat= (seconds), when it has one */
  heartbeat?: number;
}

const HOSTLESS = /^(amqps?):\/\/([^@/?#]*@)?(?=[/?#]|$)/;

/** `defaultVhost`: the vhost a URI without a path means (the link's own vhost, as RabbitMQ). */
export function resolveLinkUri(uri: string, selfPort: number, defaultVhost: string): LinkTarget {
  const local = HOSTLESS.test(uri);
  const full = local ? uri.replace(HOSTLESS, (_m, scheme: string, auth: string | undefined) => `${scheme === 'amqps' ? 'amqp' : scheme}://${auth ?? ''}127.0.0.1:${selfPort}`) : uri;
  const url = parseAmqpUrl(full);
  const parsed = new URL(full);
  if (parsed.pathname === '') url.vhost = defaultVhost;
  const hb = parsed.searchParams.get('heartbeat');
  return { url, display: redact(uri), local, ...(hb !== null && /^\d+$/.test(hb) ? { heartbeat: Number(hb) } : {}) };
}

export function redact(uri: string): string {
  return uri.replace(/^(amqps?:\/\/[^:@/]*):[^@/]*@/, '$1:***@');
}
