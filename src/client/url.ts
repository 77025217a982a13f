// amqp:// URLs as RabbitMQ clients read them.
export interface AmqpUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  vhost: string;
}

export function parseAmqpUrl(url: string): AmqpUrl {
  const u = new URL(url);
  if (u.protocol !== 'amqp:') throw new Error(`unsupported URL scheme '${u.protocol}' in ${url} (only amqp:)`);
  const path = u.pathname;
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : 5672,
    user: u.username ? decodeURIComponent(u.username) : 'guest',
    password: u.password ? decodeURIComponent(u.password) : 'guest',
    vhost: path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1)),
  };
}

