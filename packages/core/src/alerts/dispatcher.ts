import { z } from 'zod';

import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import { parseWith } from '../validation.ts';
import { ALERT_KINDS, type AlertDispatcher, type AlertRequest } from './contract.ts';
import { deliveryId, type Alert, type AlertDelivery } from './model.ts';
import type { DeliveryQueue } from './queue.ts';

const alertRequestSchema = z.object({
  tenant: z.string(),
  key: z.string().min(1).max(512).regex(/^[^\u0000-\u001f]+$/, 'expected a key without control characters'),
  kind: z.enum(ALERT_KINDS),
  channelIds: z.array(z.string().min(1).max(64)).max(20),
  subject: z.string().min(1).max(1000),
  text: z.string().max(20_000),
  violationId: z.string().min(1).max(200).optional(),
  details: z.record(z.string(), z.unknown()),
});

export interface DispatcherOptions {
  store: Store;
  queue: DeliveryQueue;
  clock: Clock;
  logger: Logger;
}

/**
 * Creates the dispatcher that governance workflows call. `dispatch` writes, in this order, the
 * alert (a conditional put, so only the first request of a key counts), one delivery per channel
 * of the stored alert (conditional puts), and then queues every delivery still PENDING. Each step
 * is idempotent, so dispatching again completes a dispatch that failed halfway. A replay queues
 * pending deliveries again without sending anything twice, because a worker takes a delivery
 * only while it is PENDING and under no other worker's lease.
 */
export function createAlertDispatcher(options: DispatcherOptions): AlertDispatcher {
  return {
    async dispatch(input: AlertRequest): Promise<void> {
      const request = parseWith(alertRequestSchema, input, 'alert request');
      const alerts = options.store.forTenant(request.tenant).alerts;
      const now = options.clock.now().toISOString();
      const channelIds = [...new Set(request.channelIds)];

      const candidate: Alert = {
        key: request.key,
        kind: request.kind,
        subject: request.subject,
        text: request.text,
        ...(request.violationId ? { violationId: request.violationId } : {}),
        details: request.details,
        channelIds,
        createdAt: now,
      };
      const created = await alerts.putAlertIfAbsent(candidate);
      const alert = created ? candidate : ((await alerts.getAlert(request.key)) ?? candidate);

      await alerts.registerTenant();

      // Unknown and disabled channels get a FAILED delivery, so the API shows that the alert did not go out there.
      for (const channelId of alert.channelIds) {
        const channel = await alerts.getChannel(channelId);
        let problem: string | undefined;
        if (!channel) problem = `Alert channel ${channelId} does not exist`;
        else if (!channel.enabled) problem = `Alert channel ${channelId} is disabled`;
        const delivery: AlertDelivery = {
          id: deliveryId(request.tenant, alert.key, channelId),
          alertKey: alert.key,
          channelId,
          kind: alert.kind,
          ...(alert.violationId ? { violationId: alert.violationId } : {}),
          state: problem ? 'FAILED' : 'PENDING',
          attempts: 0,
          createdAt: now,
          updatedAt: now,
          ...(problem ? { lastError: problem } : { nextAttemptAt: now }),
        };
        const stored = await alerts.putDeliveryIfAbsent(delivery);
        if (stored && problem) options.logger.warn('alert channel unusable', { tenant: request.tenant, alertKey: alert.key, channelId, error: problem });
      }

      const pending = (await alerts.listDeliveriesOfAlert(alert.key)).filter((delivery) => delivery.state === 'PENDING');
      await options.queue.enqueue(pending.map((delivery) => ({ tenant: request.tenant, alertKey: alert.key, channelId: delivery.channelId })));

      options.logger.info(created ? 'alert dispatched' : 'alert dispatch replayed', { tenant: request.tenant, alertKey: alert.key, kind: alert.kind, violationId: alert.violationId, channels: alert.channelIds.length, queued: pending.length });
    },
  };
}
