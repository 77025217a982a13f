// amqp:// and amqps:// URLs as RabbitMQ clients read them.
export interface AmqpUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  vhost: string;
  // amqps: TLS; the server certificate is verified against ?cacertfile=<PEM file> when given.
  tls?: { cacertfile?: string };
}

export function parseAmqpUrl(url: string): AmqpUrl {
  const u = new URL(url);
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') throw new Error(`unsupported URL scheme '${u.protocol}' in ${url} (amqp: or amqps:)`);
  const path = u.pathname;
  const secure = u.protocol === 'amqps:';
  return {
    ...(secure ? { tls: { cacertfile: u.searchParams.get('cacertfile') ?? undefined } } : {}),
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : secure ? 5671 : 5672,
    user: u.username ? decodeURIComponent(u.username) : 'guest',
    password: u.password ? decodeURIComponent(u.password) : 'guest',
    vhost: path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1)),
  };
}

