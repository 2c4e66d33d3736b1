import { Cron, use, type StackContext } from 'sst/constructs';
import { Storage } from './Storage.ts';

export function Schedules({ stack }: StackContext) {
  const { table } = use(Storage);

  // Daily at 06:30 UTC. FIRST publishes the EPSS scores once a day and CISA adds KEV entries on
  // working days, so one run a day keeps both current.
  const feedsRefresh = new Cron(stack, 'FeedsRefresh', {
    schedule: 'cron(30 6 * * ? *)',
    job: {
      function: {
        handler: 'packages/functions/src/feeds-refresh.handler',
        // Two downloads, about 300,000 EPSS rows to parse, and a few thousand items to write and delete.
        timeout: '300 seconds',
        memorySize: '1024 MB',
        environment: { STRATUM_TABLE: table.tableName },
      },
    },
  });
  table.cdk.table.grantReadWriteData(feedsRefresh.jobFunction);

  // 03:00 UTC on the first day of each quarter: expired suppressions lapse, and rules whose
  // findings changed underneath them are flagged for review.
  const suppressionAudit = new Cron(stack, 'SuppressionAudit', {
    schedule: 'cron(0 3 1 1,4,7,10 ? *)',
    job: {
      function: {
        handler: 'packages/functions/src/suppression-audit.handler',
        // Every tenant's active rules and the findings under them are read, and reopened findings written.
        timeout: '900 seconds',
        memorySize: '1024 MB',
        environment: { STRATUM_TABLE: table.tableName },
      },
    },
  });
  table.cdk.table.grantReadWriteData(suppressionAudit.jobFunction);

  return { feedsRefresh, suppressionAudit };
}
