import { DescribeImageScanFindingsCommand, type DescribeImageScanFindingsCommandOutput } from '@aws-sdk/client-ecr';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { ecrImporter, ingestReport, mergeEcrPages, RegistryError } from '@stratum/core';

import { eventIdOf, parseScanEvent } from './events.ts';
import { rejectOrThrow, type HandlerOutcome } from './outcome.ts';
import { governanceFor, lambdaDependencies, type HandlerDependencies } from './runtime.ts';

/** DescribeImageScanFindings returns at most 1,000 findings a page; 100 pages bound one image to 100,000. */
const MAX_PAGES = 100;

async function describeAllPages(dependencies: HandlerDependencies, region: string, registryId: string, repositoryName: string, imageDigest: string): Promise<DescribeImageScanFindingsCommandOutput[]> {
  const ecr = dependencies.ecr(region);
  const pages: DescribeImageScanFindingsCommandOutput[] = [];
  let nextToken: string | undefined;

  do {
    let page: DescribeImageScanFindingsCommandOutput;
    try {
      page = await ecr.send(new DescribeImageScanFindingsCommand({ registryId, repositoryName, imageId: { imageDigest }, maxResults: 1000, nextToken }));
    } catch (error) {
      throw new RegistryError(`DescribeImageScanFindings for ${repositoryName}@${imageDigest} failed: ${(error as Error).message}`, (error as { name?: string }).name, { cause: error });
    }
    pages.push(page);
    nextToken = page.nextToken;
  } while (nextToken && pages.length < MAX_PAGES);

  if (nextToken) throw new RegistryError(`DescribeImageScanFindings for ${repositoryName}@${imageDigest} has more than ${MAX_PAGES} pages`, 'TooManyPages');
  return pages;
}

/**
 * Handles "ECR Image Scan" (basic scanning) and "Inspector2 Scan" (enhanced scanning) events:
 * both scans are read back through DescribeImageScanFindings, every page, and ingested as one
 * report that replaces the image's findings.
 */
export async function handleScanCompleted(dependencies: HandlerDependencies, event: unknown): Promise<HandlerOutcome> {
  const { logger } = dependencies;
  const eventId = eventIdOf(event);

  try {
    const parsed = parseScanEvent(event);
    const { detail } = parsed;
    const status = detail['scan-status'];
    const fields = { eventId, repository: detail['repository-name'], digest: detail['image-digest'], scanStatus: status };
    if (!/COMPLETE/.test(status)) {
      logger.info('ignored scan event', fields);
      return { status: 'ignored', reason: `scan status ${status}` };
    }

    const pages = await describeAllPages(dependencies, parsed.region, parsed.account, detail['repository-name'], detail['image-digest']);
    const report = ecrImporter.parse(mergeEcrPages(pages));
    const tenant = dependencies.tenantForAccount(parsed.account);
    const result = await ingestReport(
      { store: dependencies.store.forTenant(tenant), clock: dependencies.clock, logger, governance: governanceFor(dependencies, tenant, logger) },
      { report, repository: detail['repository-name'], digest: detail['image-digest'], tags: detail['image-tags'] ?? [] },
    );

    logger.info('ingested scan findings', { ...fields, tenant, pages: pages.length, findings: result.findingCount, unchanged: result.unchanged });
    return { status: 'stored', imageKey: result.image.key, findingCount: result.findingCount };
  } catch (error) {
    return rejectOrThrow(error, logger, { eventId, handler: 'scan-completed' });
  }
}

export const handler = async (event: EventBridgeEvent<string, unknown>, context: Context): Promise<HandlerOutcome> => {
  const dependencies = lambdaDependencies();
  dependencies.logger.debug('invocation', { requestId: context.awsRequestId });
  return handleScanCompleted(dependencies, event);
};
