import { Cron, use, type StackContext } from 'sst/constructs';
import { Alerts } from './Alerts.ts';
import { Storage } from './Storage.ts';

interface ScheduledJob {
  schedule: `cron(${string})`;
  handler: string;
  timeout: `${number} seconds`;
}

export function Schedules({ stack }: StackContext) {
  const { table } = use(Storage);
  const { grantDispatch } = use(Alerts);

  /** Creates a cron job with 1024 MB that reads and writes the table. */
  const scheduled = (id: string, job: ScheduledJob): Cron => {
    const cron = new Cron(stack, id, {
      schedule: job.schedule,
      job: { function: { handler: job.handler, timeout: job.timeout, memorySize: '1024 MB', environment: { STRATUM_TABLE: table.tableName } } },
    });
    table.cdk.table.grantReadWriteData(cron.jobFunction);
    return cron;
  };

  // Daily at 06:30 UTC. FIRST publishes the EPSS scores once a day and CISA adds KEV entries on
  // working days, so one run a day keeps both current.
  const feedsRefresh = scheduled('FeedsRefresh', {
    schedule: 'cron(30 6 * * ? *)',
    handler: 'packages/functions/src/feeds-refresh.handler',
    // Two downloads, about 300,000 EPSS rows to parse, and a few thousand items to write and delete.
    timeout: '300 seconds',
  });

  // 03:00 UTC on the first day of each quarter: expired suppressions lapse, and rules whose
  // findings changed underneath them are flagged for review.
  const suppressionAudit = scheduled('SuppressionAudit', {
    schedule: 'cron(0 3 1 1,4,7,10 ? *)',
    handler: 'packages/functions/src/suppression-audit.handler',
    // Every tenant's active rules and the findings under them are read, and reopened findings written.
    timeout: '900 seconds',
  });

  // Daily at 07:00 UTC, after the feed refresh, so KEV and EPSS conditions use the day's data.
  // The job opens, escalates and closes SLA violations.
  const slaEscalation = scheduled('SlaEscalation', {
    schedule: 'cron(0 7 * * ? *)',
    handler: 'packages/functions/src/sla-escalation.handler',
    // Reads every tenant's due SLA records and open violations, and one finding lookup for each.
    timeout: '900 seconds',
  });
  grantDispatch(slaEscalation.jobFunction);

  return { feedsRefresh, suppressionAudit, slaEscalation };
}
