import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AnalysisRequester } from '@stratum/core';

/**
 * Sends analysis requests to the SQS queue the analysis function consumes. The request is the
 * message body as JSON; the function validates it again, because a queue accepts anything.
 */
export function sqsAnalysisRequester(sqs: SQSClient, queueUrl: string): AnalysisRequester {
  return async (request) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(request) }));
  };
}
