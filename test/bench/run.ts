// The SDK warns about Node versions below 22 when it builds a client, and that notice would break up the tables.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ingestReport, parseReportText, silentLogger, systemClock, type Image, type IngestContext, type LayerOrigin } from '@stratum/core';

import { PLAIN_PARTITION, plainItems, queryFirst, queryPartition, batchWriteItems } from './baseline.ts';
import { collectGarbage, median, onFreshStore, timed, type BenchStore } from './harness.ts';
import type { MemorySample } from './memory.ts';
import { largestReport, scaledReport } from './reports.ts';
import { measureSuppression } from './suppress.ts';
import { measureVexApply } from './vex-apply.ts';
import { measureLayerReading, printLayerReading } from './analysis.ts';
import { mib, ms, printTable, ratio } from './table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TENANT = 'bench';
const SCALED_FINDINGS = 10_000;
const PAGE_SIZE = 50;
const INGEST_TARGET = 2;
/** Runs per measurement after one warm-up run; STRATUM_BENCH_RUNS overrides it for quick checks. */
const RUNS = Number(process.env.STRATUM_BENCH_RUNS ?? 5);
const READS_PER_RUN = 20;
const MEMORY_RUNS = 3;

type Item = Record<string, unknown>;

function contextFor(bench: BenchStore): IngestContext {
  return { store: bench.store.forTenant(TENANT), clock: systemClock, logger: silentLogger };
}

/**
 * Runs `measure` once to warm up and then RUNS times. Each run measures Stratum and its baseline
 * back to back, so a burst of other load on the machine tends to hit both sides of a ratio.
 */
async function repeat<T>(measure: (warmUp: boolean) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let run = 0; run <= RUNS; run++) {
    const result = await measure(run === 0);
    if (run > 0) results.push(result);
  }
  return results;
}

function range(ratios: number[]): string {
  return `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
}

function verdict(label: string, value: number, target: number): string {
  return `${label} ${ratio(value)} (target ≤ ${target}x): ${value <= target ? 'met' : 'MISSED'}`;
}

// ---- writes ----------------------------------------------------------------------------------

interface WriteRun {
  ms: number;
  requests: number;
}

async function timeWrite<T>(bench: BenchStore, work: () => Promise<T>): Promise<WriteRun & { value: T }> {
  const before = bench.commands.length;
  const { ms: elapsed, value } = await timed(work);
  return { ms: elapsed, requests: bench.commands.length - before, value };
}

// ---- stored items and the table of writes ------------------------------------------------

/** Returns the partition key of an image's current findings, as keys.scan in store/keys.ts builds it. */
function scanPartition(image: Image): string {
  return `T#${TENANT}#SCAN#${image.scan!.id}`;
}

function meanSize(items: Item[]): number {
  return Math.round(items.reduce((sum, item) => sum + JSON.stringify(item).length, 0) / items.length);
}

/** Prints what an ingest stored in the scan's partition, by kind of item, with their JSON sizes. */
function describeStored(items: Item[], findingCount: number): void {
  const kinds = new Map<string, number[]>();
  for (const item of items) {
    const sizes = kinds.get(String(item.entity)) ?? [];
    sizes.push(JSON.stringify(item).length);
    kinds.set(String(item.entity), sizes);
  }

  const parts = [...kinds].map(([kind, sizes]) => `${sizes.length} ${kind} (JSON mean ${Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length)} B, min ${Math.min(...sizes)}, max ${Math.max(...sizes)})`);
  console.log(`Ingest of ${findingCount} findings stored ${items.length} items in the scan partition: ${parts.join('; ')}`);
}

interface WriteTriple {
  ingest: WriteRun;
  reference: WriteRun;
  baseline: WriteRun;
}

function writeRows(label: string, stratum: string, parse: string, runs: WriteTriple[]): Array<Array<string | number>> {
  const row = (name: string, pick: (run: WriteTriple) => WriteRun) => {
    const ratios = runs.map((run) => pick(run).ms / run.baseline.ms);
    return [`${label}, ${name}`, ms(median(runs.map((run) => pick(run).ms))), pick(runs[0]!).requests, ratio(median(ratios)), range(ratios)];
  };
  return [row(`Stratum: ${stratum}`, (run) => run.ingest), row(`reference: ${parse}BatchWrite of the same stored items`, (run) => run.reference), row(`baseline: ${parse}BatchWrite of plain items`, (run) => run.baseline)];
}

// ---- reads ---------------------------------------------------------------------------------

interface ReadRuns {
  samples: number[];
  requests: number;
}

/** Picks the origin with the most findings, so that its filtered page is full. */
function largestOrigin(image: Image): LayerOrigin {
  const totals = Object.entries(image.scan!.counts).map(([origin, bySeverity]) => [origin, Object.values(bySeverity).reduce((sum, n) => sum + (n ?? 0), 0)] as const);
  return totals.sort((a, b) => b[1] - a[1])[0]![0] as LayerOrigin;
}

interface Read {
  read: () => Promise<number>;
  expected: number;
}

/**
 * Times each read READS_PER_RUN times, taking turns between them so that garbage left by the
 * ingest and other load on the machine spread evenly over the kinds of read.
 */
async function timeReads(bench: BenchStore, reads: Read[]): Promise<ReadRuns[]> {
  const results: ReadRuns[] = reads.map(() => ({ samples: [], requests: 0 }));
  collectGarbage();

  for (let i = 0; i < READS_PER_RUN; i++) {
    for (const [index, { read, expected }] of reads.entries()) {
      const before = bench.commands.length;
      const { ms: elapsed, value } = await timed(read);
      if (value !== expected) throw new Error(`A read returned ${value} items, expected ${expected}`);
      results[index]!.samples.push(elapsed);
      results[index]!.requests = bench.commands.length - before;
    }
  }

  return results;
}

interface PageReads {
  origin: LayerOrigin;
  page: ReadRuns;
  originPage: ReadRuns;
  /** One Query for the same 51 finding items without Stratum's code, which separates the item shape's cost from the paging work. */
  rawPage: ReadRuns;
}

async function readPages(bench: BenchStore, image: Image): Promise<PageReads> {
  const store = bench.store.forTenant(TENANT);
  const origin = largestOrigin(image);
  const [page, originPage, rawPage] = await timeReads(bench, [
    { read: async () => (await store.listFindings(image, {}, { first: PAGE_SIZE })).items.length, expected: PAGE_SIZE },
    { read: async () => (await store.listFindings(image, { origin }, { first: PAGE_SIZE })).items.length, expected: PAGE_SIZE },
    { read: () => queryFirst(bench, scanPartition(image), PAGE_SIZE + 1, 'F#'), expected: PAGE_SIZE + 1 },
  ]);

  return { origin, page: page!, originPage: originPage!, rawPage: rawPage! };
}

/** Samples peak RSS in fresh child processes, since this process keeps the memory of earlier runs. */
function memorySamples(mode: 'ingest' | 'baseline', count: number, itemSize: number): MemorySample[] {
  const script = join(ROOT, 'test', 'bench', 'memory.ts');
  return Array.from({ length: MEMORY_RUNS }, () => {
    const output = execFileSync(process.execPath, ['--import', 'tsx', script, mode, String(count), String(itemSize)], { cwd: ROOT, encoding: 'utf8' });
    return JSON.parse(output.trim().split('\n').at(-1)!) as MemorySample;
  });
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const chosen = largestReport(join(ROOT, 'test', 'fixtures', 'reports'), ROOT);
  console.log(`Stratum benchmark: Node ${process.version}, ${cpus().length} cores, dynalite in-process, ${RUNS} runs after 1 warm-up, median`);
  console.log(`Largest importable report: ${chosen.path} (${(chosen.bytes / 1024).toFixed(0)} KiB, ${chosen.report.format}, ${chosen.report.findings.length} findings)`);

  // 1. The real report. The warm-up run also reads back the items stored in the scan's partition,
  // because the reference writes exactly those and the baseline's plain items copy their mean size.
  let itemSize = 0;
  let storedSmall: Item[] = [];
  const small = await repeat(async (warmUp) => {
    const ingest = await onFreshStore(async (bench) => {
      const run = await timeWrite(bench, () => ingestReport(contextFor(bench), { report: parseReportText(chosen.text) }));
      if (warmUp) {
        storedSmall = await queryPartition(bench, scanPartition(run.value.image));
        describeStored(storedSmall, run.value.findingCount);
        itemSize = meanSize(storedSmall.filter((item) => item.entity === 'finding'));
      }
      return run;
    });
    const reference = await onFreshStore((bench) =>
      timeWrite(bench, async () => {
        JSON.parse(chosen.text);
        await batchWriteItems(bench, storedSmall);
      }),
    );
    const baseline = await onFreshStore((bench) =>
      timeWrite(bench, async () => {
        JSON.parse(chosen.text);
        await batchWriteItems(bench, plainItems(ingest.value.findingCount, itemSize));
      }),
    );
    return { ingest, reference, baseline };
  });

  // 2 and 3. The scaled report, then the read path on the store it filled.
  const scaled = scaledReport(chosen.report, SCALED_FINDINGS);
  let storedLarge: Item[] = [];
  const large = await repeat(async (warmUp) => {
    const { ingest, reads } = await onFreshStore(async (bench) => {
      const run = await timeWrite(bench, () => ingestReport(contextFor(bench), { report: scaled }));
      if (warmUp) {
        storedLarge = await queryPartition(bench, scanPartition(run.value.image));
        describeStored(storedLarge, run.value.findingCount);
      }
      return { ingest: run, reads: await readPages(bench, run.value.image) };
    });
    const reference = await onFreshStore((bench) => timeWrite(bench, () => batchWriteItems(bench, storedLarge)));
    const { baseline, query } = await onFreshStore(async (bench) => ({
      baseline: await timeWrite(bench, () => batchWriteItems(bench, plainItems(ingest.value.findingCount, itemSize))),
      query: (await timeReads(bench, [{ read: () => queryFirst(bench, PLAIN_PARTITION, PAGE_SIZE + 1), expected: PAGE_SIZE + 1 }]))[0]!,
    }));
    return { ingest, reference, baseline, reads, query };
  });

  // 4. Memory, in child processes.
  const ingestMemory = memorySamples('ingest', SCALED_FINDINGS, itemSize);
  const baselineMemory = memorySamples('baseline', large[0]!.ingest.value.findingCount, itemSize);

  const scaledCount = large[0]!.ingest.value.findingCount;
  const page = median(large.flatMap((run) => run.reads.page.samples));
  const originPage = median(large.flatMap((run) => run.reads.originPage.samples));
  const rawPage = median(large.flatMap((run) => run.reads.rawPage.samples));
  const query = median(large.flatMap((run) => run.query.samples));
  const { reads } = large[0]!;

  console.log('');
  console.log('Write path. Time is the median, "vs baseline" the median of the per-run ratios and "range" their spread.');
  printTable([
    ['case', 'time', 'requests', 'vs baseline', 'range'],
    ...writeRows(`${small[0]!.ingest.value.findingCount} findings`, 'parseReportText + ingestReport', 'JSON.parse + ', small),
    ...writeRows(`${scaledCount} findings`, 'ingestReport', '', large),
  ]);

  console.log('');
  console.log(`Read path on the ${scaledCount}-finding image (median of ${READS_PER_RUN * RUNS} reads)`);
  printTable([
    ['read', 'items', 'time', 'requests', 'vs baseline'],
    ['Stratum: listFindings, first 50', PAGE_SIZE, ms(page), reads.page.requests, ratio(page / query)],
    [`Stratum: listFindings, first 50, origin ${reads.origin}`, PAGE_SIZE, ms(originPage), reads.originPage.requests, ratio(originPage / query)],
    ['reference: one Query for the same 51 finding items', PAGE_SIZE + 1, ms(rawPage), reads.rawPage.requests, ratio(rawPage / query)],
    ['baseline: one Query for 51 plain items', PAGE_SIZE + 1, ms(query), large[0]!.query.requests, ratio(1)],
  ]);

  console.log('');
  console.log(`Memory. RSS is sampled every 5 ms in a fresh process, median of ${MEMORY_RUNS}, and includes the data of the in-process dynalite.`);
  console.log('"Kept after GC" is the heap and external memory still live when the run ends, mostly the stored data.');
  const memoryRow = (label: string, samples: MemorySample[]) => [
    label,
    mib(median(samples.map((run) => run.startRss))),
    mib(median(samples.map((run) => run.peakRss))),
    mib(median(samples.map((run) => run.peakRss - run.startRss))),
    mib(median(samples.map((run) => run.heapAfter - run.heapBefore))),
  ];
  printTable([
    ['case', 'RSS before', 'peak RSS', 'growth', 'kept after GC'],
    memoryRow(`ingest ${SCALED_FINDINGS} findings`, ingestMemory),
    memoryRow(`baseline: write ${SCALED_FINDINGS} plain items`, baselineMemory),
  ]);

  console.log('');
  console.log('Stratum: the real code path. Reference: the same stored items written or read with bare SDK calls, no Stratum code.');
  console.log('Baseline: as many plain items of the mean stored finding size, BatchWriteItem 25 a request, or one Query of 51.');
  console.log('');
  const smallRatio = median(small.map((run) => run.ingest.ms / run.baseline.ms));
  const largeRatio = median(large.map((run) => run.ingest.ms / run.baseline.ms));
  console.log(verdict(`ingest ratio, ${chosen.report.findings.length}-finding report:`, smallRatio, INGEST_TARGET));
  console.log(verdict(`ingest ratio, ${SCALED_FINDINGS} findings:`, largeRatio, INGEST_TARGET));
  const share = (runs: WriteTriple[], part: (run: WriteTriple) => number) => ratio(median(runs.map(part)));
  console.log(`Stratum's own code (Stratum / reference): ${share(small, (run) => run.ingest.ms / run.reference.ms)} and ${share(large, (run) => run.ingest.ms / run.reference.ms)}`);
  console.log(`stored item shape and index entries (reference / baseline): ${share(small, (run) => run.reference.ms / run.baseline.ms)} and ${share(large, (run) => run.reference.ms / run.baseline.ms)}`);
  console.log(`read page ratio ${ratio(page / query)} in ${reads.page.requests} request(s), with the origin filter ${ratio(originPage / query)} in ${reads.originPage.requests}: reported, no target`);

  // 5. VEX: applying 10,000 statements to 2,000 findings, against parsing the same documents.
  const vex = Array.from({ length: RUNS + 1 }, () => measureVexApply()).slice(1);
  const applyMs = median(vex.map((run) => run.applyMs));
  const parseMs = median(vex.map((run) => run.parseMs));
  console.log('');
  console.log(`VEX: ${vex[0]!.statements} statements applied to ${vex[0]!.findings} findings (${vex[0]!.decided} decided), median of ${RUNS} runs`);
  printTable([
    ['case', 'time', 'vs baseline'],
    ['Stratum: index the statements and evaluate every finding', ms(applyMs), ratio(applyMs / parseMs)],
    ['baseline: parse the same documents from JSON', ms(parseMs), ratio(1)],
  ]);
  console.log(`VEX apply ${ms(applyMs)} (target under 200 ms): ${applyMs < 200 ? 'met' : 'MISSED'}; ${ratio(applyMs / parseMs)} of parsing the documents`);


  // 6. Suppressing most of a 10,000-finding image with one call, then listing what stays actionable.
  const suppressionRuns = [];
  for (let run = 0; run < RUNS; run++) suppressionRuns.push(await measureSuppression(scaled, itemSize));
  const first = suppressionRuns[0]!;
  const suppressRatio = median(suppressionRuns.map((run) => run.suppressMs / run.baselineMs));
  const listRatio = median(suppressionRuns.map((run) => run.listMs / run.queryMs));
  console.log('');
  console.log(`Suppression: ${first.suppressed} of ${scaledCount} findings suppressed by one rule, ${first.remaining} left actionable, median of ${RUNS} runs`);
  printTable([
    ['case', 'time', 'requests', 'vs baseline'],
    ['Stratum: createSuppression (findings, audit records, rule)', ms(median(suppressionRuns.map((run) => run.suppressMs))), first.suppressRequests, ratio(suppressRatio)],
    [`baseline: BatchWrite of ${first.suppressed} plain items`, ms(median(suppressionRuns.map((run) => run.baselineMs))), Math.ceil(first.suppressed / 25), ratio(1)],
    [`Stratum: first ${first.listed} actionable findings`, ms(median(suppressionRuns.map((run) => run.listMs))), first.listRequests, ratio(listRatio)],
    ['baseline: one Query of 51 plain items', ms(median(suppressionRuns.map((run) => run.queryMs))), 1, ratio(1)],
  ]);
  console.log(`suppression ratio ${ratio(suppressRatio)} and actionable page ratio ${ratio(listRatio)}: reported, no target`);

  // 7. Layer reading for content analysis, against only decompressing and walking the same layers.
  printLayerReading(await measureLayerReading(RUNS));

  console.log(`Finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

await main();
