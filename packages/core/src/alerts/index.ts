export * from './contract.ts';
export {
  CHANNEL_KINDS,
  JIRA_DEPLOYMENTS,
  SECRET_SOURCES,
  FAILING_THRESHOLD,
  channelHealth,
  type AlertChannel,
  type ChannelKind,
  type ChannelHealthState,
  type EmailConfig,
  type JiraConfig,
  type WebhookConfig,
  type StoredSecret,
  type SecretSource,
} from './channel.ts';
export { DELIVERY_STATES, deliveryId, jiraIssueLabel, type Alert, type AlertDelivery, type DeliveryRef, type DeliveryState } from './model.ts';
export { DEFAULT_RETRY_POLICY, DeliveryError, retryDelayMs, type RetryPolicy } from './retry.ts';
export { SecretBox, SecretResolver, SecretUnavailableError, localKeyFile, secretsManagerKey, secretReference, type SecretKeyProvider } from './secrets.ts';
export { signBody } from './senders/webhook.ts';
export { addressCheckedFetch } from './senders/checked-fetch.ts';
export { ALLOW_PRIVATE_WEBHOOKS, isPrivateAddress, privateWebhooksAllowed } from './webhook-address.ts';
export { createAlertServices, keyProviderFromEnvironment, type AlertServices, type AlertServicesOptions } from './services.ts';
export { createChannel, updateChannel, deleteChannel, testChannel, type ChannelContext, type ChannelTestResult } from './channels.ts';
export { createAlertDispatcher, type DispatcherOptions } from './dispatcher.ts';
export { DeliveryWorker, type DeliveryOutcome, type DeliveryWorkerOptions } from './worker.ts';
export { DeliveryRunner } from './runner.ts';
export { SqsDeliveryQueue, StoreDeliveryQueue, MAX_DELAY_SECONDS, type DeliveryQueue } from './queue.ts';
export { startLocalAlertDelivery, type LocalAlertDelivery } from './local-delivery.ts';
