// A port nothing listens on right now, for the brokers the benchmarks and tests start. Callers
// bind it later, sometimes much later: a broker restarted on the same port, a cluster node that
// binds its replication port only when it becomes the leader. A port from the kernel's ephemeral
// range can be taken meanwhile as the source port of any outgoing connection (a cluster test
// failed so, with EADDRINUSE at failover), so ports are picked below that range, at random, and
// checked; a process never hands out the same one twice.
import * as fs from 'node:fs';
import * as net from 'node:net';

const LOWEST = 10_000;
const given = new Set<number>();

function ephemeralStart(): number {
  try {
    const lo = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(lo) && lo > 0 ? lo : 32768;
  } catch {
    return 32768;
  }
}

/** Whether `port` can be bound on every address (IPv6 and IPv4, or IPv4 alone without IPv6). */
function bindable(port: number, host = '::'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      if (host === '::' && (e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL')) resolve(bindable(port, '0.0.0.0'));
      else resolve(false);
    });
    srv.listen({ port, host }, () => srv.close(() => resolve(true)));
  });
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePort(): Promise<number> {
  const highest = ephemeralStart() - 1;
  if (highest - LOWEST >= 1000) {
    for (let i = 0; i < 100; i++) {
      const p = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
      if (given.has(p)) continue;
      if (await bindable(p)) {
        given.add(p);
        return p;
      }
    }
  }
  return kernelPort();
}
