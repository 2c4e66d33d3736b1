import type { Logger } from '../../logger.ts';
import type { AlertStore } from '../../store/alert-store.ts';
import type { AlertChannel } from '../channel.ts';
import type { Alert, AlertDelivery } from '../model.ts';

/** Everything one attempt needs. `secret` is the resolved token or signing key, and must not be logged. */
export interface SendContext {
  tenant: string;
  alert: Alert;
  delivery: AlertDelivery;
  channel: AlertChannel;
  secret?: string;
  /** 1 for the first attempt. */
  attempt: number;
  now: Date;
  store: AlertStore;
  logger: Logger;
}

export interface SendResult {
  /** The receiver's id: the Jira issue key or the SES message id. */
  externalId?: string;
}

/** Sends one attempt, or throws a DeliveryError (any other error counts as retryable). */
export type Sender = (context: SendContext) => Promise<SendResult>;

/** Formats the marker put into Jira texts and emails, so a retry can tell whether an earlier attempt got through. */
export function deliveryMarker(deliveryId: string): string {
  return `[stratum-delivery:${deliveryId}]`;
}
