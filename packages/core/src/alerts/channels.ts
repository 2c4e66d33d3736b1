import { randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { TenantStore } from '../store/store.ts';
import {
  channelInputSchema,
  channelUpdateSchema,
  parseChannelInput,
  type AlertChannel,
  type ChannelHealthRecord,
  type StoredSecret,
} from './channel.ts';
import { deliveryId, type Alert, type AlertDelivery } from './model.ts';
import { DeliveryError } from './retry.ts';
import { SecretUnavailableError, secretContext, storeSecret } from './secrets.ts';
import type { AlertServices } from './services.ts';

export interface ChannelContext {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  services: AlertServices;
}

const CHANNEL_ID = /^[0-9a-f-]{36}$/;

function assertChannelId(id: string): void {
  if (!CHANNEL_ID.test(id)) throw new InvalidInputError(`Invalid alert channel id ${JSON.stringify(id)}: expected a UUID, as alertChannels lists them`, { path: 'id', value: id });
}

const NEW_HEALTH: ChannelHealthRecord = { consecutiveFailures: 0 };

/** Validates and stores a new channel; an inline secret is encrypted before it is written. */
export async function createChannel(context: ChannelContext, input: unknown): Promise<AlertChannel> {
  const parsed = parseChannelInput(channelInputSchema, input, 'input');
  const id = randomUUID();
  const now = context.clock.now().toISOString();
  const base = { id, name: parsed.name, enabled: parsed.enabled, createdAt: now, updatedAt: now, health: NEW_HEALTH };
  const secretOf = async (secret: Parameters<typeof storeSecret>[0]) => storeSecret(secret, context.services.box, secretContext(context.store.tenant, id));

  const channel: AlertChannel =
    parsed.kind === 'EMAIL'
      ? { ...base, kind: 'EMAIL', email: parsed.email }
      : parsed.kind === 'JIRA'
        ? { ...base, kind: 'JIRA', jira: parsed.jira, secret: await secretOf(parsed.secret) }
        : { ...base, kind: 'WEBHOOK', webhook: parsed.webhook, secret: await secretOf(parsed.secret) };

  await context.store.alerts.putChannel(channel, null);
  context.logger.info('alert channel created', { tenant: context.store.tenant, channelId: id, kind: channel.kind });
  return channel;
}

/** Applies a change to a channel; a config block of another kind than the channel's is rejected. */
export async function updateChannel(context: ChannelContext, id: string, input: unknown): Promise<AlertChannel> {
  assertChannelId(id);
  const change = parseChannelInput(channelUpdateSchema, input, 'input');
  const current = await context.store.alerts.getChannel(id);
  if (!current) throw new NotFoundError('Alert channel', id);

  for (const kind of ['email', 'jira', 'webhook'] as const) {
    if (change[kind] !== undefined && current.kind.toLowerCase() !== kind) {
      throw new InvalidInputError(`Invalid input.${kind}: channel ${id} is a ${current.kind} channel; give input.${current.kind.toLowerCase()} or create a new channel`, { path: `input.${kind}` });
    }
  }
  if (change.secret !== undefined && current.kind === 'EMAIL') throw new InvalidInputError('Invalid input.secret: email channels have no secret; SES uses the role of the function', { path: 'input.secret' });

  const secret: StoredSecret | undefined = change.secret ? await storeSecret(change.secret, context.services.box, secretContext(context.store.tenant, id)) : undefined;
  const common = { ...(change.name !== undefined ? { name: change.name } : {}), ...(change.enabled !== undefined ? { enabled: change.enabled } : {}), updatedAt: context.clock.now().toISOString() };

  let next: AlertChannel;
  if (current.kind === 'EMAIL') next = { ...current, ...common, ...(change.email ? { email: change.email } : {}) };
  else if (current.kind === 'JIRA') next = { ...current, ...common, ...(change.jira ? { jira: change.jira } : {}), ...(secret ? { secret } : {}) };
  else next = { ...current, ...common, ...(change.webhook ? { webhook: change.webhook } : {}), ...(secret ? { secret } : {}) };

  await context.store.alerts.putChannel(next, current.updatedAt);
  context.logger.info('alert channel updated', { tenant: context.store.tenant, channelId: id, secretChanged: secret !== undefined });
  return next;
}

export async function deleteChannel(context: ChannelContext, id: string): Promise<void> {
  assertChannelId(id);
  const deleted = await context.store.alerts.deleteChannel(id);
  if (!deleted) throw new NotFoundError('Alert channel', id);
  context.logger.info('alert channel deleted', { tenant: context.store.tenant, channelId: id });
}

export interface ChannelTestResult {
  ok: boolean;
  externalId?: string;
  error?: string;
  retryable?: boolean;
}

/**
 * Sends a test alert through a channel now, outside the queue, and records the result in the
 * channel's health. For Jira it creates (or comments on) one test issue per channel.
 */
export async function testChannel(context: ChannelContext, id: string): Promise<ChannelTestResult> {
  assertChannelId(id);
  const channel = await context.store.alerts.getChannel(id);
  if (!channel) throw new NotFoundError('Alert channel', id);

  const now = context.clock.now();
  const tenant = context.store.tenant;
  const key = `test#${id}#${now.toISOString()}`;
  const alert: Alert = {
    key,
    kind: 'NEW_BASE_IMAGE',
    subject: `Stratum test alert for channel ${channel.name}`,
    text: 'This is a test alert sent by testAlertChannel. No action is needed.',
    details: { test: true, channelId: id },
    channelIds: [id],
    createdAt: now.toISOString(),
  };
  const delivery: AlertDelivery = { id: deliveryId(tenant, key, id), alertKey: key, channelId: id, kind: alert.kind, state: 'PENDING', attempts: 0, createdAt: alert.createdAt, updatedAt: alert.createdAt };

  let result: ChannelTestResult;
  try {
    const secret = channel.kind === 'EMAIL' ? undefined : await context.services.secrets.resolve(channel.secret, secretContext(tenant, id));
    const sent = await context.services.senders[channel.kind]({ tenant, alert: { ...alert, key: `test#${id}` }, delivery, channel, secret, attempt: 1, now, store: context.store.alerts, logger: context.logger });
    result = { ok: true, ...(sent.externalId ? { externalId: sent.externalId } : {}) };
  } catch (error) {
    if (!(error instanceof DeliveryError) && !(error instanceof SecretUnavailableError)) throw error;
    result = { ok: false, error: error.message, retryable: error.retryable };
  }

  await context.store.alerts.recordChannelAttempt(id, now.toISOString(), result.ok ? undefined : { error: result.error!, permanent: result.retryable === false });
  context.logger.info('alert channel tested', { tenant, channelId: id, ok: result.ok, error: result.error });
  return result;
}
