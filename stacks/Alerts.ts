import { ArnFormat, Duration } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { Function, use, type StackContext } from 'sst/constructs';
import { Storage } from './Storage.ts';

/**
 * One delivery makes up to five HTTP calls of at most 10 s each (the Jira path: search, create,
 * comments, transition), and a batch contains five deliveries, so five minutes covers a batch.
 */
const DELIVER_TIMEOUT_MINUTES = 5;
const BATCH_SIZE = 5;

/**
 * Channel secrets referenced from Secrets Manager or SSM must live under these names, because
 * the function may read only those. The prefix keeps the role from reading every secret in the account.
 */
export const ALERT_SECRET_PREFIX = 'stratum/';

/**
 * Alert delivery: a queue of delivery references, the function that sends them through SES, Jira
 * and webhooks, and the key that encrypts inline channel secrets.
 */
export function Alerts({ stack }: StackContext) {
  const { table } = use(Storage);

  // 14 days is the maximum SQS retention, so messages the function could not process can be redriven after a fix.
  const deadLetters = new Queue(stack, 'AlertDeadLetters', { retentionPeriod: Duration.days(14) });

  // AWS advises a visibility timeout of six times the function timeout for an SQS event source.
  // A message reaches the dead-letter queue only after five receives that could not record an
  // outcome in the table. Failed sends are recorded there as retries, FAILED or DEAD instead.
  const queue = new Queue(stack, 'AlertDeliveries', {
    visibilityTimeout: Duration.minutes(DELIVER_TIMEOUT_MINUTES * 6),
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
  });

  // The key material for AES-256-GCM encryption of inline secrets; the code derives the key from it with HKDF.
  const secretsKey = new Secret(stack, 'AlertSecretsKey', {
    description: 'Stratum: key material that encrypts inline alert channel secrets',
    generateSecretString: { passwordLength: 64, excludePunctuation: true },
  });

  const deliver = new Function(stack, 'AlertDeliver', {
    handler: 'packages/functions/src/alert-deliver.handler',
    timeout: `${DELIVER_TIMEOUT_MINUTES} minutes`,
    environment: {
      STRATUM_TABLE: table.tableName,
      STRATUM_ALERT_QUEUE_URL: queue.queueUrl,
      STRATUM_ALERT_KEY_SECRET: secretsKey.secretArn,
    },
  });
  table.cdk.table.grantReadWriteData(deliver);
  // Retries are sent back to the queue with a delay.
  queue.grantSendMessages(deliver);
  grantSending(deliver, stack);
  secretsKey.grantRead(deliver);

  deliver.addEventSource(new SqsEventSource(queue, { batchSize: BATCH_SIZE, reportBatchItemFailures: true }));

  /**
   * Lets another function dispatch alerts (send to the queue) and, with `channels`, manage
   * channels: encrypt inline secrets and send test alerts, as the GraphQL API does.
   */
  const grantDispatch = (fn: LambdaFunction, options: { channels?: boolean } = {}) => {
    fn.addEnvironment('STRATUM_ALERT_QUEUE_URL', queue.queueUrl);
    queue.grantSendMessages(fn);
    if (options.channels) {
      fn.addEnvironment('STRATUM_ALERT_KEY_SECRET', secretsKey.secretArn);
      secretsKey.grantRead(fn);
      grantSending(fn, stack);
    }
  };

  return { queue, deadLetters, deliver, secretsKey, grantDispatch };
}

/** SES v2 SendEmail, and reads of channel secrets under ALERT_SECRET_PREFIX. */
function grantSending(grantee: LambdaFunction, stack: StackContext['stack']): void {
  grantee.addToRolePolicy(
    new PolicyStatement({
      actions: ['ses:SendEmail'],
      resources: [stack.formatArn({ service: 'ses', resource: 'identity', resourceName: '*' }), stack.formatArn({ service: 'ses', resource: 'configuration-set', resourceName: '*' })],
    }),
  );
  grantee.addToRolePolicy(
    new PolicyStatement({
      actions: ['secretsmanager:GetSecretValue'],
      // Secrets Manager appends six random characters to a secret's name in its ARN.
      resources: [stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${ALERT_SECRET_PREFIX}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    }),
  );
  grantee.addToRolePolicy(
    new PolicyStatement({
      actions: ['ssm:GetParameter'],
      resources: [stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${ALERT_SECRET_PREFIX}*` })],
    }),
  );
  // SecureString parameters and secrets encrypted with a customer managed key need kms:Decrypt, only through those services.
  grantee.addToRolePolicy(
    new PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' })],
      conditions: { StringEquals: { 'kms:ViaService': [`ssm.${stack.region}.amazonaws.com`, `secretsmanager.${stack.region}.amazonaws.com`] } },
    }),
  );
}
