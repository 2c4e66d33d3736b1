import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import {
  createAlertServices,
  createDocumentClient,
  DeliveryWorker,
  keyProviderFromEnvironment,
  MAX_DELAY_SECONDS,
  secretsManagerKey,
  SqsDeliveryQueue,
  Store,
  systemClock,
  type Clock,
  type DeliveryQueue,
  type Logger,
} from '@stratum/core';
import { z } from 'zod';

import { powertoolsLogger } from './runtime.ts';

export interface AlertDeliverDependencies {
  worker: DeliveryWorker;
  /** The queue that a delivery waiting for a retry is sent back to, with a delay. */
  queue: DeliveryQueue;
  clock: Clock;
  logger: Logger;
}

const deliveryRefSchema = z.object({
  tenant: z.string().min(1).max(64),
  alertKey: z.string().min(1).max(512),
  channelId: z.string().min(1).max(64),
});

/**
 * Consumes delivery messages from the alert queue. Each message is one delivery; its outcome is
 * recorded in the store by the worker before the message is acknowledged. A delivery that must
 * wait for a retry is sent again with a delay of at most 15 minutes, the SQS limit, and its
 * message is acknowledged. A longer wait is checked again and re-sent when the message returns. A message whose
 * work throws, or whose body is invalid, is reported as a batch item failure, so SQS delivers
 * it again and, after maxReceiveCount receives, moves it to the dead-letter queue.
 */
export async function handleAlertDeliveries(dependencies: AlertDeliverDependencies, event: SQSEvent): Promise<SQSBatchResponse> {
  const { logger } = dependencies;
  const failures: SQSBatchResponse['batchItemFailures'] = [];

  for (const record of event.Records) {
    const fields = { messageId: record.messageId, receiveCount: record.attributes?.ApproximateReceiveCount };

    let ref: z.infer<typeof deliveryRefSchema>;
    try {
      ref = deliveryRefSchema.parse(JSON.parse(record.body));
    } catch (error) {
      logger.error('invalid alert delivery message; leaving it for the dead-letter queue', { ...fields, error: (error as Error).message });
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }

    try {
      const outcome = await dependencies.worker.deliver(ref);
      if (outcome.status === 'RETRY' || outcome.status === 'NOT_DUE') {
        const waitSeconds = (Date.parse(outcome.retryAt) - dependencies.clock.now().getTime()) / 1000;
        await dependencies.queue.enqueue([ref], Math.min(MAX_DELAY_SECONDS, Math.max(0, waitSeconds)));
      }
      logger.debug('alert delivery message handled', { ...fields, tenant: ref.tenant, channelId: ref.channelId, status: outcome.status });
    } catch (error) {
      logger.error('alert delivery failed; the message will be received again', { ...fields, tenant: ref.tenant, alertKey: ref.alertKey, channelId: ref.channelId, error: (error as Error).message });
      failures.push({ itemIdentifier: record.messageId });
    }
  }

  return { batchItemFailures: failures };
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Missing environment variable ${name}; the Alerts stack sets it on the function`);
  return value;
}

let cached: AlertDeliverDependencies | undefined;

/** Dependencies for Lambda, built once per execution environment. */
export function alertDeliverDependencies(): AlertDeliverDependencies {
  if (cached) return cached;

  const logger = powertoolsLogger();
  const secretsManager = new SecretsManagerClient({});
  const keySecret = process.env.STRATUM_ALERT_KEY_SECRET;
  const services = createAlertServices({
    clock: systemClock,
    keyProvider: keySecret ? secretsManagerKey(keySecret, secretsManager) : keyProviderFromEnvironment(),
    secretsManager: () => secretsManager,
  });
  const store = new Store(createDocumentClient(), requiredEnv('STRATUM_TABLE'));

  cached = {
    worker: new DeliveryWorker({ store, clock: systemClock, logger, secrets: services.secrets, senders: services.senders }),
    queue: new SqsDeliveryQueue(new SQSClient({}), requiredEnv('STRATUM_ALERT_QUEUE_URL')),
    clock: systemClock,
    logger,
  };
  return cached;
}

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const dependencies = alertDeliverDependencies();
  dependencies.logger.debug('invocation', { requestId: context.awsRequestId, records: event.Records.length });
  return handleAlertDeliveries(dependencies, event);
};
