import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type { LambdaFunctionProps } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { EventBus, Function, use, type StackContext } from 'sst/constructs';
import { Alerts } from './Alerts.ts';
import { Analysis } from './Analysis.ts';
import { Storage } from './Storage.ts';
import { tenantEnvironment } from './tenant-environment.ts';

export function Events({ stack }: StackContext) {
  const { table } = use(Storage);
  const analysis = use(Analysis);
  const { grantDispatch } = use(Alerts);

  // One queue collects events that EventBridge failed to deliver and events whose handler still
  // failed after its retries, so one redrive covers both. 14 days is the maximum SQS retention.
  const deadLetters = new Queue(stack, 'EventDeadLetters', {
    retentionPeriod: Duration.days(14),
  });

  const ecrRepositories = stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' });

  // EventBridge invokes Lambda asynchronously, so Lambda (not the rule) retries a failing handler.
  // Those retries are bounded as well and end in the same queue.
  const asyncInvocation = {
    retryAttempts: 2,
    maxEventAge: Duration.hours(2),
    deadLetterQueue: deadLetters,
  };

  const imagePushed = new Function(stack, 'ImagePushed', {
    handler: 'packages/functions/src/image-pushed.handler',
    timeout: '30 seconds',
    environment: {
      ...tenantEnvironment(table.tableName),
      STRATUM_ANALYSIS_QUEUE_URL: analysis.requests.queueUrl,
    },
    permissions: [
      new PolicyStatement({
        actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:DescribeImages'],
        resources: [ecrRepositories],
      }),
    ],
    ...asyncInvocation,
  });

  const scanCompleted = new Function(stack, 'ScanCompleted', {
    handler: 'packages/functions/src/scan-completed.handler',
    // Findings are paged from ECR or Inspector and written in batches, which takes longer than a push.
    timeout: '60 seconds',
    environment: tenantEnvironment(table.tableName),
    permissions: [
      new PolicyStatement({
        actions: ['ecr:DescribeImageScanFindings', 'ecr:DescribeImages'],
        resources: [ecrRepositories],
      }),
      // inspector2:ListFindings has no resource-level permissions.
      new PolicyStatement({ actions: ['inspector2:ListFindings'], resources: ['*'] }),
    ],
    ...asyncInvocation,
  });

  table.cdk.table.grantReadWriteData(imagePushed);
  analysis.requests.grantSendMessages(imagePushed);
  table.cdk.table.grantReadWriteData(scanCompleted);
  // Storing an image may send a new-base-image alert.
  grantDispatch(imagePushed);
  grantDispatch(scanCompleted);

  // These retries cover EventBridge failing to invoke the function, for example when throttled.
  const delivery: LambdaFunctionProps = {
    deadLetterQueue: deadLetters,
    maxEventAge: Duration.hours(2),
    retryAttempts: 4,
  };

  // ECR and Inspector publish only to the account's default bus, so the rules must live there.
  new EventBus(stack, 'Default', {
    cdk: { eventBus: events.EventBus.fromEventBusName(stack, 'DefaultBus', 'default') },
    rules: {
      imagePushed: {
        pattern: {
          source: ['aws.ecr'],
          detailType: ['ECR Image Action'],
          detail: { 'action-type': ['PUSH'], result: ['SUCCESS'] },
        },
        targets: { handler: { function: imagePushed, cdk: { target: delivery } } },
      },
      ecrScanCompleted: {
        pattern: {
          source: ['aws.ecr'],
          detailType: ['ECR Image Scan'],
          detail: { 'scan-status': ['COMPLETE'] },
        },
        targets: { handler: { function: scanCompleted, cdk: { target: delivery } } },
      },
      inspectorScanCompleted: {
        pattern: {
          source: ['aws.inspector2'],
          detailType: ['Inspector2 Scan'],
        },
        targets: { handler: { function: scanCompleted, cdk: { target: delivery } } },
      },
    },
  });

  return { deadLetters, imagePushed, scanCompleted };
}
