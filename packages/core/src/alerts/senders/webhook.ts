import { createHmac } from 'node:crypto';

import { DeliveryError } from '../retry.ts';
import { request, type FetchFunction } from './http.ts';
import type { Sender } from './types.ts';

/** Computes the hex HMAC-SHA256 of a body, as sent in X-Stratum-Signature after `sha256=`. */
export function signBody(body: string, key: string): string {
  return createHmac('sha256', key).update(body, 'utf8').digest('hex');
}

/**
 * POSTs the alert as JSON: `text` for Slack-compatible receivers, `alert` with the structured
 * facts. X-Stratum-Delivery is the same on every retry, so receivers can drop duplicates, and
 * the signature covers the whole body, `sentAt` included, which equals X-Stratum-Timestamp.
 */
export function webhookSender(fetchImpl: FetchFunction = fetch): Sender {
  return async ({ alert, delivery, channel, secret, now }) => {
    if (channel.kind !== 'WEBHOOK') throw new DeliveryError(`Channel ${channel.id} is not a webhook channel`, false);
    if (!secret) throw new DeliveryError(`Webhook channel ${channel.id} has no signing key; set its secret`, false);

    const sentAt = now.toISOString();
    const body = JSON.stringify({
      text: `*${alert.subject}*\n${alert.text}`,
      deliveryId: delivery.id,
      sentAt,
      alert: { key: alert.key, kind: alert.kind, subject: alert.subject, text: alert.text, violationId: alert.violationId ?? null, details: alert.details, createdAt: alert.createdAt },
    });

    await request(
      fetchImpl,
      channel.webhook.url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Stratum-Alerts/1',
          'x-stratum-delivery': delivery.id,
          'x-stratum-timestamp': sentAt,
          'x-stratum-event': alert.kind,
          'x-stratum-signature': `sha256=${signBody(body, secret)}`,
        },
        body,
      },
      `Webhook POST to ${new URL(channel.webhook.url).host}`,
      now,
    );
    return {};
  };
}
