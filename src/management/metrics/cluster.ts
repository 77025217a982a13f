// Replication figures of a cluster leader: ISR size, and lag per follower in bytes of the
// replication stream and in seconds (age of the oldest operation the follower has not
// acknowledged as synced). Nothing on a single node.
import { thisProcess } from '../../cluster/node';
import { type Writer, labels } from './writer';

export function writeCluster(w: Writer): void {
  const n = thisProcess.node;
  if (n === null || !n.isLeader) return;
  const s = n.status();
  w.one('warren_cluster_isr_size', 'gauge', 'In-sync replicas, the leader included', s.isr.length);
  w.family('warren_replication_lag_bytes', 'gauge', 'Bytes of the replication stream a follower has not acknowledged as synced');
  for (const f of s.followers) w.sample('warren_replication_lag_bytes', labels({ follower: f.id }), f.lagBytes);
  w.family('warren_replication_lag_seconds', 'gauge', 'Age of the oldest operation a follower has not acknowledged as synced');
  for (const f of s.followers) w.sample('warren_replication_lag_seconds', labels({ follower: f.id }), f.lagSeconds);
}
