import {
  CHANNEL_KINDS,
  DELIVERY_STATES,
  JIRA_DEPLOYMENTS,
  SECRET_SOURCES,
  ALERT_KINDS,
  channelHealth,
  createChannel,
  deleteChannel,
  secretReference,
  testChannel,
  updateChannel,
  type Alert,
  type AlertChannel,
  type AlertDelivery,
  type ChannelTestResult,
  type StoredSecret,
} from '@stratum/core';

import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { SeverityEnum } from './enums.ts';
import { forwardPage, toConnection } from './paging.ts';

function channelContext(context: GraphQLContext) {
  return { store: context.store, clock: context.clock, logger: context.logger, services: context.alertServices };
}

// ---- output types ----------------------------------------------------------------------------

const ChannelKindEnum = builder.enumType('AlertChannelKind', { values: CHANNEL_KINDS });
export const DeliveryStateEnum = builder.enumType('AlertDeliveryState', {
  description:
    'PENDING: waiting for its first attempt or a retry. SENT: delivered. FAILED: rejected in a way retrying cannot fix (such as HTTP 401, a deleted or disabled channel, a missing secret). DEAD: every attempt failed with a retryable error.',
  values: DELIVERY_STATES,
});
const HealthStateEnum = builder.enumType('AlertChannelHealthState', { values: ['HEALTHY', 'FAILING'] as const });
const SecretSourceEnum = builder.enumType('AlertSecretSource', {
  description: 'INLINE: given as a value and stored encrypted. SECRETS_MANAGER and SSM: a reference read at delivery time.',
  values: SECRET_SOURCES,
});
const JiraDeploymentEnum = builder.enumType('JiraDeployment', {
  description: 'CLOUD authenticates with userEmail and an API token; DATA_CENTER with a personal access token.',
  values: JIRA_DEPLOYMENTS,
});
export const AlertKindEnum = builder.enumType('AlertKind', { values: ALERT_KINDS });

const SecretInfoRef = builder.objectRef<StoredSecret>('AlertSecret').implement({
  description: 'Where a channel secret comes from. The value itself is never returned.',
  fields: (t) => ({
    source: t.field({ type: SecretSourceEnum, resolve: (secret) => secret.source }),
    reference: t.string({ nullable: true, description: 'The Secrets Manager id (with `#jsonKey` when set) or the SSM parameter name; null for INLINE.', resolve: (secret) => secretReference(secret) ?? null }),
  }),
});

const HealthRef = builder.objectRef<ReturnType<typeof channelHealth>>('AlertChannelHealth').implement({
  description: 'FAILING after a rejection that retrying cannot fix, or after 3 failed attempts in a row; any success resets it.',
  fields: (t) => ({
    state: t.field({ type: HealthStateEnum, resolve: (health) => health.state }),
    failing: t.exposeBoolean('failing'),
    since: t.field({ type: 'DateTime', nullable: true, resolve: (health) => health.since ?? null }),
    lastError: t.string({ nullable: true, description: 'The error of the latest attempt; null once an attempt has succeeded after it.', resolve: (health) => health.lastError ?? null }),
    lastErrorAt: t.field({ type: 'DateTime', nullable: true, description: 'When lastError happened; null with it.', resolve: (health) => health.lastErrorAt ?? null }),
    consecutiveFailures: t.exposeInt('consecutiveFailures'),
  }),
});

type EmailChannel = Extract<AlertChannel, { kind: 'EMAIL' }>['email'];
type JiraChannel = Extract<AlertChannel, { kind: 'JIRA' }>['jira'];

const EmailConfigRef = builder.objectRef<EmailChannel>('EmailChannelConfig').implement({
  fields: (t) => ({
    from: t.exposeString('from'),
    to: t.exposeStringList('to'),
    configurationSet: t.string({ nullable: true, resolve: (config) => config.configurationSet ?? null }),
  }),
});

const SeverityPriorityRef = builder.objectRef<{ severity: string; priority: string }>('JiraSeverityPriority').implement({
  fields: (t) => ({ severity: t.exposeString('severity'), priority: t.exposeString('priority') }),
});

const FieldMappingRef = builder.objectRef<{ field: string; detail: string }>('JiraFieldMapping').implement({
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The Jira field id, such as customfield_10042.' }),
    detail: t.exposeString('detail', { description: 'The dot path of the alert detail whose value is sent as it is.' }),
  }),
});

const JiraConfigRef = builder.objectRef<JiraChannel>('JiraChannelConfig').implement({
  fields: (t) => ({
    deployment: t.field({ type: JiraDeploymentEnum, resolve: (config) => config.deployment }),
    baseUrl: t.exposeString('baseUrl'),
    projectKey: t.exposeString('projectKey'),
    issueType: t.exposeString('issueType'),
    userEmail: t.string({ nullable: true, resolve: (config) => config.userEmail ?? null }),
    priorityBySeverity: t.field({
      type: [SeverityPriorityRef],
      resolve: (config) => Object.entries(config.priorityBySeverity ?? {}).map(([severity, priority]) => ({ severity, priority: priority! })),
    }),
    labels: t.exposeStringList('labels'),
    fieldMapping: t.field({ type: [FieldMappingRef], resolve: (config) => Object.entries(config.fieldMapping).map(([field, detail]) => ({ field, detail })) }),
    closeTransition: t.string({ nullable: true, resolve: (config) => config.closeTransition ?? null }),
  }),
});

const WebhookConfigRef = builder.objectRef<{ url: string }>('WebhookChannelConfig').implement({
  fields: (t) => ({ url: t.exposeString('url') }),
});

export const AlertChannelRef = builder.objectRef<AlertChannel>('AlertChannel').implement({
  description: 'Where alerts go: an email list through Amazon SES, a Jira project, or a signed HTTPS webhook.',
  fields: (t) => ({
    id: t.exposeString('id'),
    name: t.exposeString('name'),
    kind: t.field({ type: ChannelKindEnum, resolve: (channel) => channel.kind }),
    enabled: t.exposeBoolean('enabled'),
    createdAt: t.field({ type: 'DateTime', resolve: (channel) => channel.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (channel) => channel.updatedAt }),
    secretConfigured: t.boolean({ description: 'Whether the channel has a token or signing key; email channels have none.', resolve: (channel) => channel.kind !== 'EMAIL' && channel.secret !== undefined }),
    secret: t.field({ type: SecretInfoRef, nullable: true, resolve: (channel) => (channel.kind === 'EMAIL' ? null : channel.secret) }),
    email: t.field({ type: EmailConfigRef, nullable: true, resolve: (channel) => (channel.kind === 'EMAIL' ? channel.email : null) }),
    jira: t.field({ type: JiraConfigRef, nullable: true, resolve: (channel) => (channel.kind === 'JIRA' ? channel.jira : null) }),
    webhook: t.field({ type: WebhookConfigRef, nullable: true, resolve: (channel) => (channel.kind === 'WEBHOOK' ? channel.webhook : null) }),
    health: t.field({ type: HealthRef, resolve: (channel) => channelHealth(channel.health) }),
  }),
});

/** One alert's delivery through one channel; the violations API lists these as "the alerts it sent". */
export const AlertDeliveryRef = builder.objectRef<AlertDelivery>('AlertDelivery').implement({
  fields: (t) => ({
    id: t.exposeString('id', { description: 'Stable across retries; webhooks receive it as X-Stratum-Delivery.' }),
    alertKey: t.exposeString('alertKey'),
    kind: t.field({ type: AlertKindEnum, resolve: (delivery) => delivery.kind }),
    violationId: t.string({ nullable: true, resolve: (delivery) => delivery.violationId ?? null }),
    channelId: t.exposeString('channelId'),
    channel: t.field({ type: AlertChannelRef, nullable: true, description: 'Null when the channel was deleted or never existed.', resolve: async (delivery, _args, context) => (await context.store.alerts.getChannel(delivery.channelId)) ?? null }),
    state: t.field({ type: DeliveryStateEnum, resolve: (delivery) => delivery.state }),
    attempts: t.exposeInt('attempts'),
    createdAt: t.field({ type: 'DateTime', resolve: (delivery) => delivery.createdAt }),
    sentAt: t.field({ type: 'DateTime', nullable: true, resolve: (delivery) => delivery.sentAt ?? null }),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (delivery) => (delivery.state === 'PENDING' ? (delivery.nextAttemptAt ?? null) : null) }),
    externalId: t.string({ nullable: true, description: 'The Jira issue key or the SES message id.', resolve: (delivery) => delivery.externalId ?? null }),
    lastError: t.string({ nullable: true, resolve: (delivery) => delivery.lastError ?? null }),
  }),
});

export const AlertRef = builder.objectRef<Alert>('Alert').implement({
  description: 'An alert as dispatched once per key, with its deliveries.',
  fields: (t) => ({
    key: t.exposeString('key'),
    kind: t.field({ type: AlertKindEnum, resolve: (alert) => alert.kind }),
    subject: t.exposeString('subject'),
    text: t.exposeString('text'),
    violationId: t.string({ nullable: true, resolve: (alert) => alert.violationId ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (alert) => alert.createdAt }),
    deliveries: t.field({ type: [AlertDeliveryRef], resolve: (alert, _args, context) => context.store.alerts.listDeliveriesOfAlert(alert.key) }),
  }),
});

const TestResultRef = builder.objectRef<ChannelTestResult>('AlertChannelTestResult').implement({
  fields: (t) => ({
    ok: t.exposeBoolean('ok'),
    externalId: t.string({ nullable: true, resolve: (result) => result.externalId ?? null }),
    error: t.string({ nullable: true, resolve: (result) => result.error ?? null }),
    retryable: t.boolean({ nullable: true, description: 'Whether the failure could pass on a later try (throttling, server error, timeout).', resolve: (result) => result.retryable ?? null }),
  }),
});

// ---- inputs ------------------------------------------------------------------------------

const SecretInput = builder.inputType('AlertSecretInput', {
  description: 'Exactly one of value (stored encrypted), secretsManagerId or ssmParameter.',
  fields: (t) => ({
    value: t.string({ required: false, description: 'The token or signing key itself, at least 16 characters; it is never returned.' }),
    secretsManagerId: t.string({ required: false, description: 'A Secrets Manager secret ARN or name.' }),
    secretsManagerJsonKey: t.string({ required: false, description: 'The key to read when the secret value is a JSON object.' }),
    ssmParameter: t.string({ required: false, description: 'An SSM Parameter Store SecureString name.' }),
  }),
});

const SeverityPriorityInput = builder.inputType('JiraSeverityPriorityInput', {
  fields: (t) => ({ severity: t.field({ type: SeverityEnum, required: true }), priority: t.string({ required: true }) }),
});

const FieldMappingInput = builder.inputType('JiraFieldMappingInput', {
  fields: (t) => ({ field: t.string({ required: true }), detail: t.string({ required: true }) }),
});

const EmailInput = builder.inputType('EmailChannelInput', {
  fields: (t) => ({
    from: t.string({ required: true, description: 'A sender address verified in SES.' }),
    to: t.stringList({ required: true }),
    configurationSet: t.string({ required: false }),
  }),
});

const JiraInput = builder.inputType('JiraChannelInput', {
  fields: (t) => ({
    deployment: t.field({ type: JiraDeploymentEnum, required: false, description: 'CLOUD unless set.' }),
    baseUrl: t.string({ required: true, description: 'Such as https://example.atlassian.net.' }),
    projectKey: t.string({ required: true }),
    issueType: t.string({ required: true }),
    userEmail: t.string({ required: false, description: 'Required for CLOUD.' }),
    priorityBySeverity: t.field({ type: [SeverityPriorityInput], required: false, description: "Jira priority names by the alert's details.severity, or details.finding.severity for violation alerts." }),
    labels: t.stringList({ required: false }),
    fieldMapping: t.field({ type: [FieldMappingInput], required: false }),
    closeTransition: t.string({ required: false, description: 'The transition applied when a violation closes, such as Done.' }),
  }),
});

const WebhookInput = builder.inputType('WebhookChannelInput', {
  fields: (t) => ({ url: t.string({ required: true, description: 'https://, or http:// to 127.0.0.1 or localhost.' }) }),
});

const ChannelInput = builder.inputType('AlertChannelInput', {
  description: 'A new channel: the block that matches kind, and a secret for JIRA and WEBHOOK.',
  fields: (t) => ({
    name: t.string({ required: true }),
    kind: t.field({ type: ChannelKindEnum, required: true }),
    enabled: t.boolean({ required: false, description: 'True unless set.' }),
    email: t.field({ type: EmailInput, required: false }),
    jira: t.field({ type: JiraInput, required: false }),
    webhook: t.field({ type: WebhookInput, required: false }),
    secret: t.field({ type: SecretInput, required: false, description: 'The Jira API token or the webhook signing key.' }),
  }),
});

const ChannelUpdateInput = builder.inputType('AlertChannelUpdateInput', {
  description: 'A change to a channel: a given block replaces the current one; an omitted secret keeps the stored one.',
  fields: (t) => ({
    name: t.string({ required: false }),
    enabled: t.boolean({ required: false }),
    email: t.field({ type: EmailInput, required: false }),
    jira: t.field({ type: JiraInput, required: false }),
    webhook: t.field({ type: WebhookInput, required: false }),
    secret: t.field({ type: SecretInput, required: false }),
  }),
});

/** Drops GraphQL nulls, so that zod gets absent fields, and turns lists of pairs into records. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== null && inner !== undefined).map(([name, inner]) => [name, withoutNulls(inner)]));
}

function toCoreInput(input: Record<string, unknown>): unknown {
  const plain = withoutNulls(input) as Record<string, unknown>;
  const jira = plain.jira as Record<string, unknown> | undefined;
  if (jira) {
    const priorities = jira.priorityBySeverity as Array<{ severity: string; priority: string }> | undefined;
    const mapping = jira.fieldMapping as Array<{ field: string; detail: string }> | undefined;
    plain.jira = {
      ...jira,
      ...(priorities ? { priorityBySeverity: Object.fromEntries(priorities.map((entry) => [entry.severity, entry.priority])) } : {}),
      ...(mapping ? { fieldMapping: Object.fromEntries(mapping.map((entry) => [entry.field, entry.detail])) } : {}),
    };
  }
  return plain;
}

// ---- operations ---------------------------------------------------------------------------

builder.queryFields((t) => ({
  alertChannels: t.connection({
    type: AlertChannelRef,
    description: "The tenant's alert channels, oldest first.",
    resolve: async (_root, args, context) => toConnection(await context.store.alerts.listChannels(forwardPage(args)), (channel) => channel),
  }),
  alertDeliveries: t.connection({
    type: AlertDeliveryRef,
    description: 'Deliveries in one state, most recently changed first: DEAD and FAILED show the alerts that did not go out.',
    args: { state: t.arg({ type: DeliveryStateEnum, required: true }) },
    resolve: async (_root, args, context) => toConnection(await context.store.alerts.listDeliveriesByState(args.state, forwardPage(args)), (delivery) => delivery),
  }),
  alert: t.field({
    type: AlertRef,
    nullable: true,
    args: { key: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => (await context.store.alerts.getAlert(args.key)) ?? null,
  }),
}));

builder.mutationFields((t) => ({
  createAlertChannel: t.field({
    type: AlertChannelRef,
    args: { input: t.arg({ type: ChannelInput, required: true }) },
    resolve: (_root, { input }, context) => createChannel(channelContext(context), toCoreInput(input)),
  }),
  updateAlertChannel: t.field({
    type: AlertChannelRef,
    args: { id: t.arg.string({ required: true }), input: t.arg({ type: ChannelUpdateInput, required: true }) },
    resolve: (_root, args, context) => updateChannel(channelContext(context), args.id, toCoreInput(args.input)),
  }),
  deleteAlertChannel: t.field({
    type: 'Boolean',
    description: 'Deletes a channel. Its pending deliveries end FAILED at their next attempt.',
    args: { id: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      await deleteChannel(channelContext(context), args.id);
      return true;
    },
  }),
  testAlertChannel: t.field({
    type: TestResultRef,
    description: "Sends a test alert through the channel now and records the result in the channel's health.",
    args: { id: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => testChannel(channelContext(context), args.id),
  }),
}));
