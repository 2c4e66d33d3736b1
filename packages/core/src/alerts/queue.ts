import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

import type { DeliveryRef } from './model.ts';

/** The queue of dispatched deliveries: SQS on AWS, the store's due list locally. */
export interface DeliveryQueue {
  /** Queues deliveries; `delaySeconds` (at most 900, the SQS limit) postpones them. */
  enqueue(refs: DeliveryRef[], delaySeconds?: number): Promise<void>;
}

/** SQS allows at most 15 minutes of message delay. */
export const MAX_DELAY_SECONDS = 900;

/** Sends delivery references to an SQS queue, ten per SendMessageBatch call. */
export class SqsDeliveryQueue implements DeliveryQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(refs: DeliveryRef[], delaySeconds = 0): Promise<void> {
    const delay = Math.max(0, Math.min(MAX_DELAY_SECONDS, Math.ceil(delaySeconds)));

    for (let start = 0; start < refs.length; start += 10) {
      const chunk = refs.slice(start, start + 10);
      const response = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((ref, index) => ({ Id: String(index), MessageBody: JSON.stringify(ref), DelaySeconds: delay })),
        }),
      );
      const failed = response.Failed ?? [];
      if (failed.length > 0) {
        throw new Error(`SQS rejected ${failed.length} of ${chunk.length} delivery messages (${failed[0]!.Code}: ${failed[0]!.Message ?? 'no message'}); dispatch again, which queues the pending deliveries again`);
      }
    }
  }
}

/**
 * The local queue: deliveries are already in the store's due list, so enqueueing only wakes the
 * runner. Tests use it with a runner they drive themselves.
 */
export class StoreDeliveryQueue implements DeliveryQueue {
  private readonly listeners = new Set<(tenants: string[]) => void>();

  async enqueue(refs: DeliveryRef[]): Promise<void> {
    const tenants = [...new Set(refs.map((ref) => ref.tenant))];
    for (const listener of this.listeners) listener(tenants);
  }

  /** Calls `listener` with the tenants of every enqueue; returns a function that stops it. */
  onEnqueue(listener: (tenants: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
