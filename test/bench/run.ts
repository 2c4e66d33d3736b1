// The SDK warns about Node versions below 22 when a client is built; the bench output should hold numbers only.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ingestReport, parseReportText, silentLogger, systemClock, type Image, type IngestContext, type LayerOrigin, type ParsedReport } from '@stratum/core';

import { plainItems, queryPartition, queryPlainItems, writePlainItems } from './baseline.ts';
import { collectGarbage, median, startBenchStore, timed, withPeakRss, type BenchStore } from './harness.ts';
import { largestReport, scaledReport } from './reports.ts';
import { mib, ms, printTable, ratio } from './table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TENANT = 'bench';
const SCALED_FINDINGS = 10_000;
const PAGE_SIZE = 50;
const INGEST_TARGET = 2;
/** Runs per measurement after one warm-up run; STRATUM_BENCH_RUNS overrides it for quick checks. */
const RUNS = Number(process.env.STRATUM_BENCH_RUNS ?? 5);
const READS_PER_RUN = 20;

function contextFor(bench: BenchStore): IngestContext {
  return { store: bench.store.forTenant(TENANT), clock: systemClock, logger: silentLogger };
}

/** Runs `measure` once to warm up and then RUNS times, each on a fresh store. */
async function repeat<T>(measure: (bench: BenchStore, warmUp: boolean) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let run = 0; run <= RUNS; run++) {
    const bench = await startBenchStore();
    try {
      collectGarbage();
      const result = await measure(bench, run === 0);
      if (run > 0) results.push(result);
    } finally {
      await bench.close();
    }
  }
  return results;
}

function verdict(label: string, value: number, target: number): string {
  return `${label} ${ratio(value)} (target ≤ ${target}x): ${value <= target ? 'met' : 'MISSED'}`;
}

// ---- the stored item size the baseline copies ---------------------------------------------

async function storedFindingSizes(bench: BenchStore, image: Image): Promise<{ mean: number; min: number; max: number; count: number }> {
  const items = await queryPartition(bench, `T#${TENANT}#SCAN#${image.scan!.id}`);
  const sizes = items.map((item) => JSON.stringify(item).length);
  return { mean: Math.round(sizes.reduce((sum, size) => sum + size, 0) / sizes.length), min: Math.min(...sizes), max: Math.max(...sizes), count: sizes.length };
}

// ---- 1. the real report --------------------------------------------------------------------

interface WriteRun {
  ms: number;
  requests: number;
}

async function ingestText(bench: BenchStore, text: string): Promise<WriteRun & { findings: number; image: Image }> {
  const before = bench.commands.length;
  const { ms: elapsed, value } = await timed(async () => ingestReport(contextFor(bench), { report: parseReportText(text) }));
  return { ms: elapsed, requests: bench.commands.length - before, findings: value.findingCount, image: value.image };
}

async function baselineText(bench: BenchStore, text: string, count: number, size: number): Promise<WriteRun> {
  const before = bench.commands.length;
  const { ms: elapsed } = await timed(async () => {
    JSON.parse(text);
    await writePlainItems(bench, plainItems(count, size));
  });
  return { ms: elapsed, requests: bench.commands.length - before };
}

// ---- 2 to 4. the scaled report, its read path and its memory -----------------------------

interface ScaledRun {
  ingest: WriteRun & { findings: number; startRss: number; peakRss: number };
  page: number[];
  pageRequests: number;
  originPage: number[];
  originRequests: number;
  origin: LayerOrigin;
}

/** The origin holding the most findings, so its filtered page is full. */
function largestOrigin(image: Image): LayerOrigin {
  const totals = Object.entries(image.scan!.counts).map(([origin, bySeverity]) => [origin, Object.values(bySeverity).reduce((sum, n) => sum + (n ?? 0), 0)] as const);
  return totals.sort((a, b) => b[1] - a[1])[0]![0] as LayerOrigin;
}

async function timeReads(bench: BenchStore, read: () => Promise<number>, expected: number): Promise<{ samples: number[]; requests: number }> {
  const samples: number[] = [];
  let requests = 0;

  for (let i = 0; i < READS_PER_RUN; i++) {
    const before = bench.commands.length;
    const { ms: elapsed, value } = await timed(read);
    if (value !== expected) throw new Error(`A read returned ${value} items, expected ${expected}`);
    samples.push(elapsed);
    requests = bench.commands.length - before;
  }

  return { samples, requests };
}

async function scaledIngest(bench: BenchStore, report: ParsedReport): Promise<ScaledRun> {
  const before = bench.commands.length;
  const { value, startRss, peakRss } = await withPeakRss(() => timed(() => ingestReport(contextFor(bench), { report })));
  const ingest = { ms: value.ms, requests: bench.commands.length - before, findings: value.value.findingCount, startRss, peakRss };

  const image = value.value.image;
  const store = bench.store.forTenant(TENANT);
  const origin = largestOrigin(image);
  const page = await timeReads(bench, async () => (await store.listFindings(image, {}, { first: PAGE_SIZE })).items.length, PAGE_SIZE);
  const originPage = await timeReads(bench, async () => (await store.listFindings(image, { origin }, { first: PAGE_SIZE })).items.length, PAGE_SIZE);

  return { ingest, page: page.samples, pageRequests: page.requests, originPage: originPage.samples, originRequests: originPage.requests, origin };
}

interface ScaledBaselineRun extends WriteRun {
  startRss: number;
  peakRss: number;
  query: number[];
  queryRequests: number;
}

async function scaledBaseline(bench: BenchStore, count: number, size: number): Promise<ScaledBaselineRun> {
  const before = bench.commands.length;
  const { value, startRss, peakRss } = await withPeakRss(() => timed(() => writePlainItems(bench, plainItems(count, size))));
  const requests = bench.commands.length - before;
  const query = await timeReads(bench, () => queryPlainItems(bench, PAGE_SIZE + 1), PAGE_SIZE + 1);
  return { ms: value.ms, requests, startRss, peakRss, query: query.samples, queryRequests: query.requests };
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const chosen = largestReport(join(ROOT, 'test', 'fixtures', 'reports'), ROOT);
  console.log(`Stratum benchmark: Node ${process.version}, ${cpus().length} cores, dynalite in-process, ${RUNS} runs after 1 warm-up, median`);
  console.log(`Largest importable report: ${chosen.path} (${(chosen.bytes / 1024).toFixed(0)} KiB, ${chosen.report.format}, ${chosen.report.findings.length} findings)`);

  // 1. the real report, and the size of one stored finding item for the baselines
  let itemSize = 0;
  let storedFindings = 0;
  const small = await repeat(async (bench, warmUp) => {
    const ingest = await ingestText(bench, chosen.text);
    if (warmUp) {
      const sizes = await storedFindingSizes(bench, ingest.image);
      itemSize = sizes.mean;
      storedFindings = ingest.findings;
      console.log(`Stored finding items: ${sizes.count}, JSON size mean ${sizes.mean} B (min ${sizes.min}, max ${sizes.max}); plain items are padded to ${sizes.mean} B`);
    }
    return ingest;
  });
  const smallBase = await repeat((bench) => baselineText(bench, chosen.text, storedFindings, itemSize));

  // 2 to 4. the scaled report
  const scaled = scaledReport(chosen.report, SCALED_FINDINGS);
  const large = await repeat((bench) => scaledIngest(bench, scaled));
  const largeBase = await repeat((bench) => scaledBaseline(bench, large[0]!.ingest.findings, itemSize));

  const smallIngest = median(small.map((run) => run.ms));
  const smallBaseline = median(smallBase.map((run) => run.ms));
  const largeIngest = median(large.map((run) => run.ingest.ms));
  const largeBaseline = median(largeBase.map((run) => run.ms));
  const page = median(large.flatMap((run) => run.page));
  const originPage = median(large.flatMap((run) => run.originPage));
  const query = median(largeBase.flatMap((run) => run.query));
  const origin = large[0]!.origin;

  console.log('');
  console.log('Write path (median of runs; each run on a fresh in-memory table)');
  printTable([
    ['case', 'items', 'Stratum', 'requests', 'baseline', 'requests', 'ratio'],
    [`ingest ${chosen.report.findings.length}-finding report (parse + ingest)`, small[0]!.findings, ms(smallIngest), small[0]!.requests, ms(smallBaseline), smallBase[0]!.requests, ratio(smallIngest / smallBaseline)],
    [`ingest ${SCALED_FINDINGS} findings (ingest only)`, large[0]!.ingest.findings, ms(largeIngest), large[0]!.ingest.requests, ms(largeBaseline), largeBase[0]!.requests, ratio(largeIngest / largeBaseline)],
  ]);

  console.log('');
  console.log(`Read path on the ${large[0]!.ingest.findings}-finding image (median of ${READS_PER_RUN * RUNS} reads)`);
  printTable([
    ['read', 'items', 'Stratum', 'requests', 'baseline', 'requests', 'ratio'],
    ['listFindings first 50', PAGE_SIZE, ms(page), large[0]!.pageRequests, ms(query), largeBase[0]!.queryRequests, ratio(page / query)],
    [`listFindings first 50, origin ${origin}`, PAGE_SIZE, ms(originPage), large[0]!.originRequests, ms(query), largeBase[0]!.queryRequests, ratio(originPage / query)],
  ]);

  console.log('');
  console.log(`Memory (RSS sampled every 5 ms; the in-process dynalite's data counts too)`);
  printTable([
    ['case', 'RSS before', 'peak RSS', 'growth'],
    [`ingest ${SCALED_FINDINGS} findings`, mib(median(large.map((run) => run.ingest.startRss))), mib(median(large.map((run) => run.ingest.peakRss))), mib(median(large.map((run) => run.ingest.peakRss - run.ingest.startRss)))],
    [`baseline: write ${SCALED_FINDINGS} plain items`, mib(median(largeBase.map((run) => run.startRss))), mib(median(largeBase.map((run) => run.peakRss))), mib(median(largeBase.map((run) => run.peakRss - run.startRss)))],
  ]);

  console.log('');
  console.log('Baselines: JSON.parse of the same text and BatchWriteItem (25 a request) of as many plain items of the mean stored finding size;');
  console.log('for reads, one Query for 51 plain items. Ratios are Stratum time / baseline time.');
  console.log('');
  console.log(verdict(`ingest ratio, ${chosen.report.findings.length}-finding report:`, smallIngest / smallBaseline, INGEST_TARGET));
  console.log(verdict(`ingest ratio, ${SCALED_FINDINGS} findings:`, largeIngest / largeBaseline, INGEST_TARGET));
  console.log(`read page ratio ${ratio(page / query)} with ${large[0]!.pageRequests} request(s), origin filter ${ratio(originPage / query)} with ${large[0]!.originRequests} request(s): reported, no target`);
  console.log(`Finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

await main();
