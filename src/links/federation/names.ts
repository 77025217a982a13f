// The objects a federation link declares on its upstream, named as RabbitMQ's plugin names
// them: the queue "federation: X -> NODE" (the vhost and downstream exchange appended when
// they differ from the upstream's: "federation: X -> NODE:vhost:Y") and the internal
// exchange of type x-federation-upstream, "<queue> A" or "<queue> B" (a restarted link binds a
// fresh one, then deletes the other: bindings left from the last run vanish without a gap).
export function upstreamQueueName(upstreamX: string, downstreamNode: string, vhost: string, downstreamX: string): string {
  const suffix = vhost === '/' && downstreamX === upstreamX ? '' : `:${vhost}:${downstreamX}`;
  return `federation: ${upstreamX} -> ${downstreamNode}${suffix}`;
}

export function upstreamExchangeNames(queue: string): [string, string] {
  return [`${queue} A`, `${queue} B`];
}
