import type { Context, ScheduledEvent } from 'aws-lambda';
import { FeedStore, GovernanceStore, runSlaEscalation, type AlertDispatcher } from '@stratum/core';

import { lambdaDependencies, type HandlerDependencies } from './runtime.ts';

export interface SlaRunSummary {
  tenants: number;
  failed: string[];
  opened: number;
  escalated: number;
  closed: number;
  alertsSent: number;
}

/**
 * Runs the daily SLA pass for every tenant that has workflows. A tenant whose pass fails is
 * logged and the others still run. The run then fails at the end, so the schedule retries it,
 * and the retry sends nothing twice because every step of the pass is idempotent.
 */
export async function handleSlaEscalation(dependencies: HandlerDependencies, alerts: AlertDispatcher | undefined): Promise<SlaRunSummary> {
  const { store, logger } = dependencies;
  const feeds = new FeedStore(store.db, store.tableName);
  const tenants = await GovernanceStore.tenantsWithWorkflows(store.db, store.tableName);
  const summary: SlaRunSummary = { tenants: tenants.length, failed: [], opened: 0, escalated: 0, closed: 0, alertsSent: 0 };
  if (!alerts) logger.warn('SLA pass runs without an alert dispatcher: violations are recorded but no alert is sent', { tenants: tenants.length });

  for (const tenant of tenants) {
    try {
      const report = await runSlaEscalation({ store: store.forTenant(tenant), clock: dependencies.clock, logger, alerts, exploitFacts: (ids) => feeds.getFacts([...ids]) });
      summary.opened += report.opened;
      summary.escalated += report.escalated;
      summary.closed += report.closed;
      summary.alertsSent += report.alertsSent;
    } catch (error) {
      summary.failed.push(tenant);
      logger.error('SLA pass failed for tenant', { tenant, error: (error as Error).message });
    }
  }

  logger.info('SLA pass finished', { ...summary });
  if (summary.failed.length > 0) throw new Error(`SLA pass failed for ${summary.failed.length} of ${tenants.length} tenants: ${summary.failed.join(', ')}`);
  return summary;
}

export const handler = async (_event: ScheduledEvent, context: Context): Promise<SlaRunSummary> => {
  const dependencies = lambdaDependencies();
  dependencies.logger.debug('invocation', { requestId: context.awsRequestId });
  // The dispatcher queues on STRATUM_ALERT_QUEUE_URL; without it violations are recorded and not alerted.
  return handleSlaEscalation(dependencies, dependencies.alerts);
};
