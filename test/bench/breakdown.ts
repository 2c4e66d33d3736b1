// Splits an ingest's time into Stratum's code, index entries and item shape: `npx tsx test/bench/breakdown.ts [findings]`.
// It ingests 10,000 findings by default, takes about two minutes and is not part of `npm run bench`.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ingestReport, parseReportText, silentLogger, systemClock, type Finding, type TenantStore } from '@stratum/core';

import { plainItems, queryPartition, batchWriteItems } from './baseline.ts';
import { median, onFreshStore, type BenchStore } from './harness.ts';
import { largestReport, scaledReport } from './reports.ts';
import { ms, printTable } from './table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COUNT = Number(process.argv[2] ?? 10_000);
const RUNS = Number(process.env.STRATUM_BENCH_RUNS ?? 5);
const GSI_KEYS = ['GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'GSI3PK', 'GSI3SK'] as const;
const STORE_CALLS = ['getImage', 'findLongestPrefix', 'putFindings', 'putImage', 'putAliases', 'putChain', 'imagesBuiltOn', 'getImagesByKey'] as const;

type Item = Record<string, unknown>;

const samples = new Map<string, number[]>();
function record(label: string, value: number): void {
  samples.set(label, [...(samples.get(label) ?? []), value]);
}

/** Ingests with a timer around each store call, so the time outside them is Stratum's own work. */
async function spannedIngest(bench: BenchStore, report: ReturnType<typeof scaledReport>): Promise<string> {
  const store = bench.store.forTenant('bench');
  const spans = new Map<string, number>();
  const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;

  for (const name of STORE_CALLS) {
    const original = methods[name]!.bind(store);
    methods[name] = async (...args: unknown[]) => {
      const start = performance.now();
      try {
        return await original(...args);
      } finally {
        spans.set(name, (spans.get(name) ?? 0) + performance.now() - start);
      }
    };
  }

  const start = performance.now();
  const result = await ingestReport({ store, clock: systemClock, logger: silentLogger }, { report });
  const total = performance.now() - start;
  const putFindings = spans.get('putFindings') ?? 0;
  const otherCalls = [...spans.values()].reduce((sum, value) => sum + value, 0) - putFindings;

  record('A. ingestReport, total', total);
  record('   of which store.putFindings', putFindings);
  record('   of which other store calls (image, aliases, chain, base lookup)', otherCalls);
  record('   of which outside the calls above (placeFindings, scan id hash, origins, VEX, counts)', total - putFindings - otherCalls);
  return `T#bench#SCAN#${result.image.scan!.id}`;
}

/**
 * Builds the finding items the way putFindings does. The method is private, so this only calls
 * it, and skips the line if a refactoring renamed it.
 */
function buildItems(store: TenantStore, findings: Finding[], stored: Item[]): void {
  const method = (store as unknown as { findingItem?: (finding: Finding) => Item }).findingItem;
  if (typeof method !== 'function') return;

  // Both results are kept in arrays, so the compiler cannot drop the objects as unused.
  let start = performance.now();
  const built = findings.map((finding) => method.call(store, finding));
  record('   findingItem for every finding (CPU only, part of putFindings)', performance.now() - start);

  // The same items from the same key values, written as plain properties before one spread of the finding.
  start = performance.now();
  const rebuilt = findings.map((finding, index) => {
    const { PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK } = stored[index]!;
    return { PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, entity: 'finding', ...finding };
  });
  record('   the same items built with key properties first and one spread (CPU only)', performance.now() - start);

  if (built.length !== rebuilt.length) throw new Error(`Built ${built.length} and ${rebuilt.length} items from the same ${findings.length} findings`);
}

/** Parsing is part of the bench's small case: the importer's validation against a bare JSON.parse. */
function timeParse(text: string): void {
  let start = performance.now();
  parseReportText(text);
  record('P. parseReportText of the report file (not part of A)', performance.now() - start);
  start = performance.now();
  JSON.parse(text);
  record('P. JSON.parse of the same text (the baseline side)', performance.now() - start);
}

async function rawWrite(label: string, items: Item[]): Promise<void> {
  await onFreshStore(async (bench) => {
    const start = performance.now();
    await batchWriteItems(bench, items);
    record(label, performance.now() - start);
  });
}

async function main(): Promise<void> {
  const chosen = largestReport(join(ROOT, 'test', 'fixtures', 'reports'), ROOT);
  const report = scaledReport(chosen.report, COUNT);
  console.log(`Breakdown of ingesting ${COUNT} findings copied from ${chosen.path}. Median of ${RUNS} runs after 1 warm-up.`);

  // The exact items Stratum stores, read back once, so the raw writes below send the same bytes.
  const stored = await onFreshStore(async (bench) => queryPartition(bench, await spannedIngest(bench, report)));
  const findingItems = stored.filter((item) => item.entity === 'finding');
  const findings = findingItems.map((item) => Object.fromEntries(Object.entries(item).filter(([name]) => !['PK', 'SK', 'entity', ...GSI_KEYS].includes(name))) as unknown as Finding);
  const withoutIndexKeys = stored.map((item) => Object.fromEntries(Object.entries(item).filter(([name]) => !(GSI_KEYS as readonly string[]).includes(name))));
  const size = Math.round(stored.reduce((sum, item) => sum + JSON.stringify(item).length, 0) / stored.length);
  const plain = plainItems(stored.length, size);
  // Same JSON size as `plain`, with the findings' index key values in place of part of the padding.
  const plainWithIndexKeys = plain.map((item, index) => {
    const indexKeys = Object.fromEntries(GSI_KEYS.map((name) => [name, stored[index]![name]]));
    return { ...item, ...indexKeys, pad: (item.pad as string).slice(JSON.stringify(indexKeys).length) };
  });
  samples.clear();

  for (let run = 0; run <= RUNS; run++) {
    timeParse(chosen.text);
    await onFreshStore(async (bench) => {
      await spannedIngest(bench, report);
      buildItems(bench.store.forTenant('bench'), findings, findingItems);
    });
    await rawWrite('B. BatchWrite of the same stored items, no Stratum code', stored);
    await rawWrite('C. B without the six GSI key attributes (nested item, no index entries)', withoutIndexKeys);
    await rawWrite('D. plain items with the same GSI key values (flat item, 3 index entries)', plainWithIndexKeys);
    await rawWrite('E. plain items of the same JSON size (the bench baseline)', plain);
    // Run 0 warms up the JIT and the SDK's connections, so its numbers are dropped.
    if (run === 0) samples.clear();
  }

  printTable([['step', 'median'], ...[...samples].map(([label, values]) => [label, ms(median(values))])]);
}

await main();
