// Forwarding for federation links: what the upstream delivers is published locally and settled
// upstream as the link's ack-mode says (on-confirm: acked when the local publish is confirmed).
import type { ClientChannel, ClientMessage } from '../../client';
import type { UpstreamConfig } from './upstream';

export interface Route {
  exchange: string;
  routingKey: string;
  props: Buffer;
}

export async function forwardConfirmed(src: ClientChannel, dest: ClientChannel, u: UpstreamConfig, route: (m: ClientMessage) => Route,
  progress: () => void): Promise<void> {
  if (u.ackMode === 'on-confirm') await dest.confirmSelect();
  if (u.ackMode !== 'no-ack') await src.qos(u.prefetch);
  // (publish sequence number, upstream delivery tag): both increase, so a FIFO
  const seqs: number[] = [];
  const tags: number[] = [];
  let head = 0;
  src.messageSink = (m) => {
    const r = route(m);
    const seq = dest.publishRaw(r.exchange, r.routingKey, r.props, m.body);
    if (u.ackMode === 'on-confirm') { seqs.push(seq); tags.push(m.deliveryTag); return; }
    if (u.ackMode === 'on-publish') src.ack(m.deliveryTag);
    progress();
  };
  dest.onConfirmTag = (tag, multiple, ack) => {
    let last = -1;
    if (multiple) {
      while (head < seqs.length && seqs[head] <= tag) last = tags[head++];
      if (last >= 0) { if (ack) src.ack(last, true); else src.nack(last, true, true); }
    } else {
      const i = seqs.indexOf(tag, head);
      if (i < 0) return;
      last = tags[i];
      if (i === head) head++; else { seqs.splice(i, 1); tags.splice(i, 1); }
      if (ack) src.ack(last); else src.nack(last, false, true);
    }
    if (head > 4096 && head * 2 > seqs.length) { seqs.splice(0, head); tags.splice(0, head); head = 0; }
    if (ack && last >= 0) progress();
  };
}
