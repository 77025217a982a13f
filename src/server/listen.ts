// Where Warren's listeners bind: the given address, or by default every IPv6 and IPv4 address
// ('::' with ipv6Only off), falling back to every IPv4 address on machines without IPv6.
export async function listenOnDefault(host: string | undefined, port: number,
  listenOn: (host: string, port: number) => Promise<number>): Promise<number> {
  if (host) return listenOn(host, port);
  try {
    return await listenOn('::', port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EAFNOSUPPORT') return listenOn('0.0.0.0', port);
    throw e;
  }
}

// Listeners (plain and TLS) are offered to these hooks as they are created: a cluster leader
// uses it to accept the PROXY protocol header from the followers that forward clients to it
// (src/cluster/proxy-protocol.ts), without the listeners knowing about clusters.
type ListenerHook = (srv: import('node:net').Server) => void;
const listenerHooks = new Set<ListenerHook>();

export function addListenerHook(h: ListenerHook): () => void {
  listenerHooks.add(h);
  return () => listenerHooks.delete(h);
}

export function listenerCreated<S extends import('node:net').Server>(srv: S): S {
  for (const h of listenerHooks) h(srv);
  return srv;
}
