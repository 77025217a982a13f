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
