/**
 * The contract between governance workflows and alert delivery. Delivery is asynchronous and
 * idempotent per channel and key, so dispatching the same request twice sends one alert.
 */
export const ALERT_KINDS = ['VIOLATION_OPENED', 'VIOLATION_ESCALATED', 'VIOLATION_CLOSED', 'NEW_BASE_IMAGE'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export interface AlertRequest {
  tenant: string;
  /** Idempotency key, for example `violation#<id>#OPENED`; one delivery per channel and key, ever. */
  key: string;
  kind: AlertKind;
  /** Channels configured for the tenant; unknown or disabled channels are reported, not silently skipped. */
  channelIds: string[];
  subject: string;
  /** Plain text, also used as Slack-compatible `text`. */
  text: string;
  /** The violation the alert is about, so deliveries can be listed per violation and Jira gets one issue per violation. */
  violationId?: string;
  /** Structured facts for the webhook body and Jira field mapping: finding, image, rule, due date. */
  details: Record<string, unknown>;
}

export interface AlertDispatcher {
  /** Records the request and queues its deliveries; resolves once nothing can be lost. */
  dispatch(request: AlertRequest): Promise<void>;
}
