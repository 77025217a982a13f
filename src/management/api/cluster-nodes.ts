// The cluster in /api/nodes: the leader (which serves the API) with its role, and a row per
// follower with its replication state. A single node reports no cluster fields.
import { thisProcess } from '../../cluster/node';

export function roleFields(): Record<string, unknown> {
  const n = thisProcess.node;
  if (n === null) return {};
  const s = n.status();
  return { cluster_role: n.isLeader ? 'leader' : 'follower', cluster_id: n.nodeId, in_sync: true, isr: s.isr, replication_position: s.position };
}

export function followerRows(): Array<Record<string, unknown>> {
  const n = thisProcess.node;
  if (n === null || !n.isLeader) return [];
  return n.status().followers.map((f) => ({
    name: f.id, cluster_id: f.id, type: 'disc', running: true, cluster_role: 'follower', replication_state: f.state, in_sync: f.inIsr,
    replication_lag_bytes: f.lagBytes, replication_lag_seconds: f.lagSeconds, replication_address: f.address,
  }));
}
