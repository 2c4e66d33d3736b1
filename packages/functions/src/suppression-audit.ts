import type { Context, ScheduledEvent } from 'aws-lambda';
import { FeedStore, runSuppressionAudit, TriageStore } from '@stratum/core';

import { lambdaDependencies, type HandlerDependencies } from './runtime.ts';

export interface AuditRunSummary {
  tenants: number;
  failed: string[];
  lapsed: number;
  flagged: number;
  reopened: number;
}

/**
 * Runs the suppression audit for every tenant that has suppression rules. A tenant whose audit
 * fails is logged and the others still run; the run fails at the end so the schedule's retry
 * and dead-letter queue see it.
 */
export async function handleSuppressionAudit(dependencies: HandlerDependencies): Promise<AuditRunSummary> {
  const { store, logger } = dependencies;
  const feeds = new FeedStore(store.db, store.tableName);
  const tenants = await TriageStore.tenantsWithRules(store.db, store.tableName);
  const summary: AuditRunSummary = { tenants: tenants.length, failed: [], lapsed: 0, flagged: 0, reopened: 0 };

  for (const tenant of tenants) {
    try {
      const report = await runSuppressionAudit(
        { store: store.forTenant(tenant), clock: dependencies.clock, logger, actor: 'stratum:quarterly-audit' },
        { exploitFacts: (ids) => feeds.getFacts([...ids]) },
      );
      summary.lapsed += report.lapsed;
      summary.flagged += report.flagged;
      summary.reopened += report.reopened;
    } catch (error) {
      summary.failed.push(tenant);
      logger.error('suppression audit failed for tenant', { tenant, error: (error as Error).message });
    }
  }

  logger.info('suppression audit finished', { ...summary });
  if (summary.failed.length > 0) throw new Error(`Suppression audit failed for ${summary.failed.length} of ${tenants.length} tenants: ${summary.failed.join(', ')}`);
  return summary;
}

export const handler = async (_event: ScheduledEvent, context: Context): Promise<AuditRunSummary> => {
  const dependencies = lambdaDependencies();
  dependencies.logger.debug('invocation', { requestId: context.awsRequestId });
  return handleSuppressionAudit(dependencies);
};
