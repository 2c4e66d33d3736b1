import type { Context, ScheduledEvent } from 'aws-lambda';
import { DEFAULT_EPSS_URL, DEFAULT_KEV_URL, FeedStore, refreshFeeds, type FeedLimits, type RefreshResult } from '@stratum/core';

import { lambdaDependencies, type HandlerDependencies } from './runtime.ts';

export interface FeedsRefreshOptions {
  /** The HTTP client; the global fetch when omitted. */
  fetch?: typeof fetch;
  limits?: Partial<FeedLimits>;
  /** Environment that provides STRATUM_EPSS_URL and STRATUM_KEV_URL; process.env when omitted. */
  env?: Record<string, string | undefined>;
}

/**
 * Handles the daily schedule: refreshes EPSS and the CISA KEV catalog. STRATUM_EPSS_URL and
 * STRATUM_KEV_URL replace the publishers' addresses, for a mirror or a local copy. A single
 * failed feed is logged and reported in the result. The handler throws only when both failed,
 * so Lambda retries the scheduled invocation only when nothing was refreshed.
 */
export async function handleFeedsRefresh(
  dependencies: Pick<HandlerDependencies, 'store' | 'clock' | 'logger'>,
  event: unknown,
  options: FeedsRefreshOptions = {},
): Promise<RefreshResult> {
  const { logger } = dependencies;
  const env = options.env ?? process.env;
  const epssUrl = env.STRATUM_EPSS_URL || DEFAULT_EPSS_URL;
  const kevUrl = env.STRATUM_KEV_URL || DEFAULT_KEV_URL;
  const eventId = (event as { id?: unknown } | null)?.id;

  const result = await refreshFeeds({
    store: new FeedStore(dependencies.store.db, dependencies.store.tableName),
    fetch: options.fetch,
    epssUrl,
    kevUrl,
    clock: dependencies.clock,
    logger,
    limits: options.limits,
  });

  const fields = { eventId, epss: result.epss, kev: result.kev };
  if (result.epss.status === 'failed' && result.kev.status === 'failed') {
    logger.error('feeds refresh failed for both feeds', fields);
    throw new Error(`Feeds refresh failed for both feeds. EPSS: ${result.epss.error} KEV: ${result.kev.error}`);
  }
  if (result.epss.status === 'failed' || result.kev.status === 'failed') logger.warn('feeds refresh finished with one feed failed', fields);
  else logger.info('feeds refresh finished', fields);
  return result;
}

export const handler = async (event: ScheduledEvent, context: Context): Promise<RefreshResult> => {
  const dependencies = lambdaDependencies();
  dependencies.logger.debug('invocation', { requestId: context.awsRequestId });
  return handleFeedsRefresh(dependencies, event);
};
