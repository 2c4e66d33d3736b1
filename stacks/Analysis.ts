import { Duration } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { Function, use, type StackContext } from 'sst/constructs';
import { Storage } from './Storage.ts';
import { tenantEnvironment } from './tenant-environment.ts';

/** Lambda's maximum timeout; one large image can take most of it to download and read. */
const ANALYSIS_TIMEOUT_MINUTES = 15;

/**
 * Content analysis as its own queued step: the push handler queues a request, and one function
 * per message reads the image's layers, so a large image never delays a push or the API.
 */
export function Analysis({ stack }: StackContext) {
  const { table } = use(Storage);

  // 14 days is the maximum SQS retention, so a failed analysis can be redriven after a fix.
  const deadLetters = new Queue(stack, 'AnalysisDeadLetters', { retentionPeriod: Duration.days(14) });

  // AWS advises a visibility timeout of six times the function timeout for an SQS event source,
  // so a message is not delivered again while a slow invocation, or its retries by Lambda, still runs.
  const requests = new Queue(stack, 'AnalysisRequests', {
    visibilityTimeout: Duration.minutes(ANALYSIS_TIMEOUT_MINUTES * 6),
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: deadLetters, maxReceiveCount: 3 },
  });

  const analyze = new Function(stack, 'ImageAnalyze', {
    handler: 'packages/functions/src/image-analyze.handler',
    timeout: `${ANALYSIS_TIMEOUT_MINUTES} minutes`,
    memorySize: '2048 MB',
    // Kept files (package databases, scripts, sources) go to the reader's temporary folder under /tmp.
    diskSize: '10240 MB',
    environment: tenantEnvironment(table.tableName),
    permissions: [
      new PolicyStatement({
        actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        resources: [stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' })],
      }),
    ],
  });
  table.cdk.table.grantReadWriteData(analyze);

  // One message per invocation, and failed messages reported one by one, so one bad image never retries others.
  analyze.addEventSource(new SqsEventSource(requests, { batchSize: 1, reportBatchItemFailures: true }));

  return { requests, deadLetters, analyze };
}
