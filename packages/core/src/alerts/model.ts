import { createHash } from 'node:crypto';

import type { AlertKind } from './contract.ts';

/**
 * Delivery states. PENDING waits for its first attempt or a retry at `nextAttemptAt`. SENT
 * succeeded. FAILED was rejected in a way retrying cannot fix: a 4xx such as 401, a deleted or
 * disabled channel, or a missing secret. DEAD used up its attempts on retryable failures.
 */
export const DELIVERY_STATES = ['PENDING', 'SENT', 'FAILED', 'DEAD'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A dispatched alert, stored once per tenant and key. */
export interface Alert {
  key: string;
  kind: AlertKind;
  subject: string;
  text: string;
  violationId?: string;
  details: Record<string, unknown>;
  channelIds: string[];
  createdAt: string;
}

/** One alert's delivery through one channel. */
export interface AlertDelivery {
  /** Stable across retries: a digest of tenant, alert key and channel id, sent as X-Stratum-Delivery. */
  id: string;
  alertKey: string;
  channelId: string;
  kind: AlertKind;
  violationId?: string;
  state: DeliveryState;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  nextAttemptAt?: string;
  sentAt?: string;
  /** The receiver's id for what was sent: the Jira issue key or the SES message id. */
  externalId?: string;
  lastError?: string;
  /** The lease of the worker sending it now; a crashed worker's lease expires. */
  leaseId?: string;
  leaseUntil?: string;
}

/** The body of a queue message: the keys that find the delivery in the store. */
export interface DeliveryRef {
  tenant: string;
  alertKey: string;
  channelId: string;
}

export function deliveryId(tenant: string, alertKey: string, channelId: string): string {
  return createHash('sha256').update(`${tenant}\n${alertKey}\n${channelId}`).digest('hex').slice(0, 32);
}

/**
 * Derives the Jira label that marks the one issue of a violation (or of an alert without violation). It
 * is derived from tenant and subject only, so a worker that crashed after creating the issue
 * finds it again with a JQL search on the label.
 */
export function jiraIssueLabel(tenant: string, subject: string): string {
  return `stratum-${createHash('sha256').update(`${tenant}\n${subject}`).digest('hex').slice(0, 20)}`;
}
