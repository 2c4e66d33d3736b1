// Run by run.ts in a child process: `node --import tsx test/bench/memory.ts <ingest|baseline> <count> <itemSize>`.
// A fresh process per sample, because RSS rarely shrinks after earlier runs and would hide the peak.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ingestReport, silentLogger, systemClock } from '@stratum/core';

import { plainItems, batchWriteItems } from './baseline.ts';
import { collectGarbage, startBenchStore, timed, withPeakRss } from './harness.ts';
import { largestReport, scaledReport } from './reports.ts';

export interface MemorySample {
  mode: 'ingest' | 'baseline';
  items: number;
  ms: number;
  startRss: number;
  peakRss: number;
  /** Heap and external memory after a collection, before and after the run, with the store still open. */
  heapBefore: number;
  heapAfter: number;
}

function liveHeap(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function sample(mode: string, count: number, itemSize: number): Promise<MemorySample> {
  const bench = await startBenchStore();

  try {
    if (mode === 'ingest') {
      const chosen = largestReport(join(ROOT, 'test', 'fixtures', 'reports'), ROOT);
      const report = scaledReport(chosen.report, count);
      const context = { store: bench.store.forTenant('bench'), clock: systemClock, logger: silentLogger };
      const heapBefore = liveHeap();
      const { value, startRss, peakRss } = await withPeakRss(() => timed(() => ingestReport(context, { report })));
      return { mode, items: value.value.findingCount, ms: value.ms, startRss, peakRss, heapBefore, heapAfter: liveHeap() };
    }

    if (mode === 'baseline') {
      const items = plainItems(count, itemSize);
      const heapBefore = liveHeap();
      const { value, startRss, peakRss } = await withPeakRss(() => timed(() => batchWriteItems(bench, items)));
      return { mode, items: items.length, ms: value.ms, startRss, peakRss, heapBefore, heapAfter: liveHeap() };
    }

    throw new Error(`Invalid mode ${JSON.stringify(mode)}: expected ingest or baseline`);
  } finally {
    await bench.close();
  }
}

const [mode = '', count = '', itemSize = ''] = process.argv.slice(2);
console.log(JSON.stringify(await sample(mode, Number(count), Number(itemSize))));
