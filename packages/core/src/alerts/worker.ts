import { randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import type { AlertChannel, ChannelKind } from './channel.ts';
import type { AlertDelivery, DeliveryRef } from './model.ts';
import { DEFAULT_RETRY_POLICY, DeliveryError, retryDelayMs, type RetryPolicy } from './retry.ts';
import { SecretUnavailableError, secretContext, type SecretResolver } from './secrets.ts';
import type { Sender } from './senders/types.ts';

/** The result of working one delivery message. RETRY and NOT_DUE carry the time of the next attempt. */
export type DeliveryOutcome =
  | { status: 'SENT' | 'FAILED' | 'DEAD'; deliveryId: string }
  | { status: 'RETRY' | 'NOT_DUE'; deliveryId: string; retryAt: string }
  | { status: 'SKIPPED'; reason: string };

export interface DeliveryWorkerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  secrets: SecretResolver;
  senders: Record<ChannelKind, Sender>;
  policy?: RetryPolicy;
  /** How long one attempt may hold a delivery before another worker may take it; 2 minutes unless set. */
  leaseMs?: number;
  /** Source of jitter; Math.random unless set. */
  random?: () => number;
}

/**
 * Works one delivery: takes it with a lease, sends it, and records the outcome (SENT, a retry with
 * backoff, FAILED or DEAD) before returning, so a queue message is acknowledged only after its
 * failure is in the store. A delivery that is SENT, FAILED, DEAD or held by another worker is skipped.
 */
export class DeliveryWorker {
  private readonly policy: RetryPolicy;
  private readonly leaseMs: number;
  private readonly random: () => number;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.policy = options.policy ?? DEFAULT_RETRY_POLICY;
    this.leaseMs = options.leaseMs ?? 120_000;
    this.random = options.random ?? Math.random;
  }

  async deliver(ref: DeliveryRef): Promise<DeliveryOutcome> {
    const { clock, logger } = this.options;
    const alerts = this.options.store.forTenant(ref.tenant).alerts;
    const fields = { tenant: ref.tenant, alertKey: ref.alertKey, channelId: ref.channelId };

    const delivery = await alerts.getDelivery(ref.alertKey, ref.channelId);
    if (!delivery) {
      logger.warn('alert delivery not found', fields);
      return { status: 'SKIPPED', reason: 'delivery not found' };
    }
    if (delivery.state !== 'PENDING') return { status: 'SKIPPED', reason: `delivery is ${delivery.state}` };

    const now = clock.now();
    if (delivery.nextAttemptAt && delivery.nextAttemptAt > now.toISOString()) return { status: 'NOT_DUE', deliveryId: delivery.id, retryAt: delivery.nextAttemptAt };

    const leaseId = randomUUID();
    const claimed = await alerts.claimDelivery(delivery, { leaseId, leaseUntil: new Date(now.getTime() + this.leaseMs).toISOString(), now: now.toISOString() });
    if (!claimed) return { status: 'SKIPPED', reason: 'another worker holds the delivery' };

    const attempt = delivery.attempts + 1;
    const [alert, channel] = await Promise.all([alerts.getAlert(ref.alertKey), alerts.getChannel(ref.channelId)]);

    let outcome: { externalId?: string } | DeliveryError;
    if (!alert) outcome = new DeliveryError(`Alert ${ref.alertKey} is missing from the store`, false);
    else if (!channel) outcome = new DeliveryError(`Alert channel ${ref.channelId} was deleted`, false);
    else if (!channel.enabled) outcome = new DeliveryError(`Alert channel ${ref.channelId} is disabled; enable it and dispatch again`, false);
    else {
      try {
        const secret = await this.secretOf(ref.tenant, channel);
        outcome = await this.options.senders[channel.kind]({ tenant: ref.tenant, alert, delivery, channel, secret, attempt, now, store: alerts, logger });
      } catch (error) {
        outcome = asDeliveryError(error);
      }
    }

    const at = clock.now();
    const result = this.nextState(delivery, attempt, outcome, at);
    await alerts.recordAttempt(result.delivery, leaseId);

    if (channel) {
      const failure = outcome instanceof DeliveryError ? { error: outcome.message, permanent: !outcome.retryable } : undefined;
      await alerts.recordChannelAttempt(channel.id, at.toISOString(), failure);
    }

    const logFields = { ...fields, deliveryId: delivery.id, attempt, state: result.delivery.state };
    if (outcome instanceof DeliveryError) logger.warn('alert delivery attempt failed', { ...logFields, error: outcome.message, retryable: outcome.retryable, nextAttemptAt: result.delivery.nextAttemptAt });
    else logger.info('alert delivered', { ...logFields, externalId: result.delivery.externalId });

    return result.outcome;
  }

  private async secretOf(tenant: string, channel: AlertChannel): Promise<string | undefined> {
    if (channel.kind === 'EMAIL') return undefined;
    return this.options.secrets.resolve(channel.secret, secretContext(tenant, channel.id));
  }

  private nextState(delivery: AlertDelivery, attempt: number, outcome: { externalId?: string } | DeliveryError, at: Date): { delivery: AlertDelivery; outcome: DeliveryOutcome } {
    const base = { ...delivery, attempts: attempt, updatedAt: at.toISOString() };
    delete base.nextAttemptAt;

    if (!(outcome instanceof DeliveryError)) {
      const sent: AlertDelivery = { ...base, state: 'SENT', sentAt: at.toISOString(), ...(outcome.externalId ? { externalId: outcome.externalId } : {}) };
      return { delivery: sent, outcome: { status: 'SENT', deliveryId: delivery.id } };
    }

    const lastError = outcome.message.slice(0, 1000);
    if (!outcome.retryable) return { delivery: { ...base, state: 'FAILED', lastError }, outcome: { status: 'FAILED', deliveryId: delivery.id } };
    if (attempt >= this.policy.maxAttempts) return { delivery: { ...base, state: 'DEAD', lastError }, outcome: { status: 'DEAD', deliveryId: delivery.id } };

    const retryAt = new Date(at.getTime() + retryDelayMs(this.policy, attempt, outcome.details.retryAfterMs, this.random)).toISOString();
    return { delivery: { ...base, state: 'PENDING', lastError, nextAttemptAt: retryAt }, outcome: { status: 'RETRY', deliveryId: delivery.id, retryAt } };
  }
}

/** Anything a sender throws that is not a DeliveryError (a bug, a store outage) is retried rather than dropped. */
function asDeliveryError(error: unknown): DeliveryError {
  if (error instanceof DeliveryError) return error;
  if (error instanceof SecretUnavailableError) return new DeliveryError(error.message, error.retryable, {}, { cause: error });
  return new DeliveryError(`Unexpected error: ${(error as Error).message ?? String(error)}`, true, {}, { cause: error });
}
