process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { ingestReport, silentLogger, systemClock, type TenantStore } from '@stratum/core';
import { plainItems, queryPartition, writePlainItems } from './baseline.ts';
import { collectGarbage, median, startBenchStore } from './harness.ts';
import { largestReport, scaledReport } from './reports.ts';
const chosen = largestReport('test/fixtures/reports', '.');
const scaled = scaledReport(chosen.report, 10000);
let findingItems: Record<string, unknown>[] = [];
const results: Record<string, number[]> = {};
const rec = (k: string, v: number) => (results[k] ??= []).push(v);
for (let i = 0; i < 4; i++) {
  {
    const bench = await startBenchStore(); collectGarbage();
    const store = bench.store.forTenant('bench') as TenantStore & Record<string, any>;
    const spans: Record<string, number> = {};
    for (const name of ['getImage', 'findLongestPrefix', 'putFindings', 'putImage', 'putAliases', 'putChain', 'imagesBuiltOn', 'getImagesByKey']) {
      const orig = store[name].bind(store);
      store[name] = async (...args: unknown[]) => { const t = performance.now(); try { return await orig(...args); } finally { spans[name] = (spans[name] ?? 0) + performance.now() - t; } };
    }
    const t = performance.now();
    const res = await ingestReport({ store, clock: systemClock, logger: silentLogger }, { report: scaled });
    const total = performance.now() - t;
    rec('ingest total', total);
    const storeMs = Object.values(spans).reduce((a, b) => a + b, 0);
    for (const [k, v] of Object.entries(spans)) rec('  store.' + k, v);
    rec('  outside store calls (placeFindings, scanId hash, attribution, counts)', total - storeMs);
    if (i === 0) findingItems = await queryPartition(bench, `T#bench#SCAN#${res.image.scan!.id}`);
    await bench.close();
  }
  const raw = async (label: string, items: Record<string, unknown>[]) => {
    const bench = await startBenchStore(); collectGarbage();
    const t = performance.now(); await writePlainItems(bench, items); rec(label, performance.now() - t); await bench.close();
  };
  await raw('raw BatchWrite of the stored finding items', findingItems);
  await raw('raw BatchWrite of finding items without GSI keys', findingItems.map(({ GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, ...rest }) => rest));
  const plain = plainItems(10000, 1181);
  await raw('plain items + the findings GSI key values (flat, padded)', plain.map((p, j) => { const f = findingItems[j]!; const k = { GSI1PK: f.GSI1PK, GSI1SK: f.GSI1SK, GSI2PK: f.GSI2PK, GSI2SK: f.GSI2SK, GSI3PK: f.GSI3PK, GSI3SK: f.GSI3SK }; return { ...p, ...k, pad: (p.pad as string).slice(JSON.stringify(k).length) }; }));
  await raw('plain items (the baseline)', plain);
  { // stringify cost and hashing in isolation
    const t = performance.now(); JSON.stringify(findingItems); rec('JSON.stringify of 10k findings', performance.now() - t);
  }
}
for (const [k, v] of Object.entries(results)) console.log(median(v.slice(1)).toFixed(0).padStart(7), 'ms ', k, ' runs:', v.map((x) => x.toFixed(0)).join(' '));
