import { createSuppression, ingestReport, silentLogger, systemClock, type ParsedReport, type Severity } from '@stratum/core';

import { batchWriteItems, plainItems, PLAIN_PARTITION, queryFirst } from './baseline.ts';
import { onFreshStore, timed, type BenchStore } from './harness.ts';

const TENANT = 'bench';
const PAGE_SIZE = 50;

export interface SuppressionRun {
  suppressMs: number;
  suppressed: number;
  suppressRequests: number;
  baselineMs: number;
  remaining: number;
  listMs: number;
  listRequests: number;
  listed: number;
  queryMs: number;
}

/**
 * Suppresses every finding of a 10,000-finding image but the CRITICAL ones with one call, then
 * reads the first page of the findings that stay actionable. The baselines write as many plain
 * items as were suppressed and query one page of plain items.
 */
export async function measureSuppression(report: ParsedReport, itemSize: number): Promise<SuppressionRun> {
  const context = (bench: BenchStore) => ({ store: bench.store.forTenant(TENANT), clock: systemClock, logger: silentLogger, actor: 'bench' });
  const kept: Severity = 'CRITICAL';
  const suppressedSeverities: Severity[] = ['HIGH', 'MEDIUM', 'LOW', 'NEGLIGIBLE', 'UNKNOWN'];

  const stratum = await onFreshStore(async (bench) => {
    const { image } = await ingestReport(context(bench), { report });

    const before = bench.commands.length;
    const suppress = await timed(() =>
      createSuppression(context(bench), {
        filter: { severities: suppressedSeverities },
        scope: { kind: 'IMAGE', imageDigest: image.key },
        reason: 'RISK_ACCEPTED',
        comment: 'benchmark',
      }),
    );
    const suppressRequests = bench.commands.length - before;

    const fresh = (await bench.store.forTenant(TENANT).getImage(image.key))!;
    const listBefore = bench.commands.length;
    const list = await timed(() => bench.store.forTenant(TENANT).listFindings(fresh, { actionable: true, now: new Date().toISOString() }, { first: PAGE_SIZE }));
    const remaining = Object.values(fresh.scan!.counts).reduce((sum, counts) => sum + (counts[kept] ?? 0), 0);

    return {
      suppressMs: suppress.ms,
      suppressed: suppress.value.suppressedCount,
      suppressRequests,
      remaining,
      listMs: list.ms,
      listRequests: bench.commands.length - listBefore,
      listed: list.value.items.length,
    };
  });

  const baseline = await onFreshStore(async (bench) => {
    const write = await timed(() => batchWriteItems(bench, plainItems(stratum.suppressed, itemSize)));
    const query = await timed(() => queryFirst(bench, PLAIN_PARTITION, PAGE_SIZE + 1));
    return { baselineMs: write.ms, queryMs: query.ms };
  });

  return { ...stratum, ...baseline };
}
