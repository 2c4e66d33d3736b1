import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import {
  ANALYSIS_ACTOR,
  analyzeImageWithFacts,
  EcrRegistry,
  InvalidInputError,
  parseAnalysisRequest,
  recordImage,
  RegistryError,
  storeImageAnalysis,
  type RegistryClient,
} from '@stratum/core';

import { lambdaDependencies, type HandlerDependencies } from './runtime.ts';

export type RegistryFor = (registryId: string | undefined, region: string) => RegistryClient;

/** The outcome of one queued request. */
export interface AnalysisOutcome {
  status: 'stored' | 'rejected';
  imageDigest?: string;
  packages?: number;
  findingsUpdated?: number;
  reason?: string;
}

function parseBody(record: SQSRecord) {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new InvalidInputError(`Message ${record.messageId} is not JSON; expected an analysis request such as {"tenant":"acme","repository":"team/app","imageDigest":"sha256:…"}`, { path: 'body' });
  }
  return parseAnalysisRequest(body);
}

/**
 * Analyses the image one queued request names: reads its layers from the registry, stores the
 * analysis under its digest and applies it to the image's current findings. A request that
 * can never succeed (invalid, image not found, a layer over the limits) is rejected and
 * logged. Other failures are thrown, so the message returns to the queue for a retry.
 */
export async function analyzeQueuedImage(dependencies: HandlerDependencies, record: SQSRecord, registryFor: RegistryFor): Promise<AnalysisOutcome> {
  const { logger } = dependencies;
  const fields = { messageId: record.messageId, receiveCount: record.attributes?.ApproximateReceiveCount };

  try {
    const request = parseBody(record);
    const region = request.region ?? process.env.AWS_REGION ?? 'us-east-1';
    const registry = registryFor(request.registryId, region);
    const context = { store: dependencies.store.forTenant(request.tenant), clock: dependencies.clock, logger, actor: ANALYSIS_ACTOR };
    const requestFields = { ...fields, tenant: request.tenant, repository: request.repository, imageDigest: request.imageDigest };

    logger.info('analysing image', requestFields);
    const { analysis, image } = await analyzeImageWithFacts({ kind: 'registry', registry, repository: request.repository, reference: request.imageDigest }, { clock: dependencies.clock, logger });

    // The push handler records the image first; a request from elsewhere may name one it never saw.
    if (!(await context.store.getImage(analysis.imageDigest))) await recordImage(context, { ...image, repository: request.repository });

    const stored = await storeImageAnalysis(context, analysis);
    return { status: 'stored', imageDigest: analysis.imageDigest, packages: stored.analysis.packages.length, findingsUpdated: stored.findingsUpdated };
  } catch (error) {
    const permanent = error instanceof InvalidInputError || (error instanceof RegistryError && !error.retryable);
    if (!permanent) throw error;

    logger.error('rejected analysis request', { ...fields, error: (error as Error).message });
    return { status: 'rejected', reason: (error as Error).message };
  }
}

/**
 * Handles a batch of analysis requests. The queue delivers one message per batch, because one
 * analysis can take minutes; a failed message is reported alone, so it alone is retried.
 */
export async function handleImageAnalyze(
  dependencies: HandlerDependencies,
  event: SQSEvent,
  registryFor: RegistryFor = (registryId, region) => new EcrRegistry(dependencies.ecr(region), registryId),
): Promise<SQSBatchResponse> {
  const failures: SQSBatchResponse['batchItemFailures'] = [];

  for (const record of event.Records) {
    try {
      const outcome = await analyzeQueuedImage(dependencies, record, registryFor);
      dependencies.logger.info('finished analysis request', { messageId: record.messageId, ...outcome });
    } catch (error) {
      dependencies.logger.error('analysis failed; leaving the message to retry', { messageId: record.messageId, error: (error as Error).message });
      failures.push({ itemIdentifier: record.messageId });
    }
  }

  return { batchItemFailures: failures };
}

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const dependencies = lambdaDependencies();
  dependencies.logger.debug('invocation', { requestId: context.awsRequestId, messages: event.Records.length });
  return handleImageAnalyze(dependencies, event);
};
