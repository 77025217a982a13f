// In a cluster, "durable" means on the leader's disk AND on every in-sync follower's disk. The
// store's group commit owns the first half; this hook is the second: once a local sync has
// resolved, the cluster (src/cluster/) makes the promise wait until every in-sync replica has
// acknowledged a synced position covering what that sync covered. A log's sync resolves with
// that position (store/replication-position.ts); a local sync that carries none (the metadata
// log) waits for the position of the moment it resolved, which covers it too. A single node
// installs nothing and pays one null check. It lives in broker/ (not cluster/) so that the
// broker and the stream server depend on nothing above them.
export type ReplicaWait = (position?: number) => Promise<void>;

let wait: ReplicaWait | null = null;

/** The cluster installs (or removes, with null) the replica barrier. */
export function setReplicaBarrier(fn: ReplicaWait | null): void {
  wait = fn;
}

/** `local` (a local sync) followed by the replica barrier, when there is one. */
export function afterReplicas(local: Promise<number | void>): Promise<void> {
  const w = wait;
  if (w === null) return local as Promise<void>;
  return local.then((position) => w(typeof position === 'number' ? position : undefined));
}

/** The position covering several syncs: the furthest. */
export const latest = (positions: number[]): number => {
  let m = 0;
  for (const p of positions) if (p > m) m = p;
  return m;
};
