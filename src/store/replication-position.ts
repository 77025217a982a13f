// Where a cluster leader's replication stream stands (src/cluster/leader-stream.ts): the byte
// position a follower must have synced to hold everything written to the data directory so far.
// A sync round reads it right after writing its data, before its fdatasync (group-commit.ts),
// and resolves its waiters with it: a confirm then waits for the followers to hold that round's
// data, not whatever else was written while the leader's own fdatasync ran (which made every
// confirm wait for a later follower sync round than the one carrying its message). A single
// node has no source and reads 0. It lives in store/ so the group commit depends on nothing
// above it; the cluster installs the source.
let source: (() => number) | null = null;

export function setReplicationPositionSource(fn: (() => number) | null): void {
  source = fn;
}

export function replicationPosition(): number {
  return source === null ? 0 : source();
}
