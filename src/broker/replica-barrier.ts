// In a cluster, "durable" means on the leader's disk AND on every in-sync follower's disk. The
// store's group commit owns the first half; this hook is the second: once a local sync has
// resolved, the cluster (src/cluster/) makes the promise wait until every in-sync replica has
// acknowledged a synced position covering what was written before that moment. A single node
// installs nothing and pays one null check. It lives in broker/ (not cluster/) so that the
// broker and the stream server depend on nothing above them.
export type ReplicaWait = () => Promise<void>;

let wait: ReplicaWait | null = null;

/** The cluster installs (or removes, with null) the replica barrier. */
export function setReplicaBarrier(fn: ReplicaWait | null): void {
  wait = fn;
}

/** `local` (a local sync) followed by the replica barrier, when there is one. */
export function afterReplicas(local: Promise<void>): Promise<void> {
  const w = wait;
  return w === null ? local : local.then(w);
}
