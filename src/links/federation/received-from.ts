// The x-received-from header a federation link adds to each message it forwards: one entry per
// hop, newest first, naming the upstream (its URI without the password, exchange, cluster name
// and vhost). The upstream's x-federation-upstream exchange counts these entries against
// max-hops and refuses a message that was already at the downstream (src/broker/federation-filter.ts).
import { type BasicProperties, type FieldTable, type FieldValue, decodeProperties, encodeProperties } from '../../protocol';

export interface Hop {
  uri: string;
  exchange: string;
  clusterName: string;
  vhost: string;
}

export function addHop(raw: Buffer, hop: Hop, redelivered: boolean, trustUserId: boolean): Buffer {
  const p: BasicProperties = decodeProperties(raw);
  const headers: FieldTable = { ...(p.headers ?? {}) };
  const prior = headers['x-received-from'];
  const entry: FieldTable = { uri: hop.uri, exchange: hop.exchange, redelivered, 'cluster-name': hop.clusterName, vhost: hop.vhost };
  headers['x-received-from'] = [entry, ...(Array.isArray(prior) ? prior : [])] as FieldValue[];
  p.headers = headers;
  // the link publishes as its own user: a user-id naming someone else would be refused
  if (!trustUserId) delete p.userId;
  return encodeProperties(p);
}
