process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { marshall } from '@aws-sdk/util-dynamodb';
import { ingestReport, parseReportText, silentLogger, systemClock, type TenantStore } from '@stratum/core';
import { plainItems, queryPartition, writePlainItems } from './baseline.ts';
import { collectGarbage, median, startBenchStore } from './harness.ts';
import { largestReport, scaledReport } from './reports.ts';
const chosen = largestReport('test/fixtures/reports', '.');
const scaled = scaledReport(chosen.report, 10000);
const results: Record<string, number[]> = {};
const rec = (k: string, v: number) => (results[k] ??= []).push(v);
const time = (label: string, f: () => unknown) => { const t = performance.now(); f(); rec(label, performance.now() - t); };
// collect stored items once
const b0 = await startBenchStore();
const r0 = await ingestReport({ store: b0.store.forTenant('bench'), clock: systemClock, logger: silentLogger }, { report: scaled });
const items = await queryPartition(b0, `T#bench#SCAN#${r0.image.scan!.id}`);
await b0.close();
const findings = items.map(({ PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, entity, ...rest }) => ({ layerIndex: undefined, ...rest }));
const store = b0.store.forTenant('bench') as unknown as { findingItem(f: unknown): Record<string, unknown> };
for (let i = 0; i < 6; i++) {
  collectGarbage();
  time('parseReportText (327-finding report)', () => parseReportText(chosen.text));
  time('JSON.parse (327-finding report)', () => JSON.parse(chosen.text));
  time('findingItem x10k', () => findings.map((f) => store.findingItem(f)));
  time('marshall stored finding items x10k', () => items.map((it) => marshall(it, { removeUndefinedValues: true })));
  const plain = plainItems(10000, 1181);
  time('marshall plain items x10k', () => plain.map((it) => marshall(it, { removeUndefinedValues: true })));
  time('JSON.stringify 10k findings', () => JSON.stringify(findings));
  const raw = async (label: string, its: Record<string, unknown>[]) => {
    const bench = await startBenchStore(); collectGarbage();
    const t = performance.now(); await writePlainItems(bench, its); rec(label, performance.now() - t); await bench.close();
  };
  await raw('stored items, GSI2+GSI3 only (GSI1 dropped)', items.map(({ GSI1PK, GSI1SK, ...rest }) => rest));
  await raw('stored items, keys + body as one JSON string + scalar filter fields', items.map(({ PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, entity, ...rest }) => ({ PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, entity, scanId: rest.scanId, origin: rest.origin, severity: rest.severity, packageName: (rest.package as {name: string}).name, body: JSON.stringify(rest) })));
  await raw('stored items as they are', items);
  await raw('plain', plain);
}
for (const [k, v] of Object.entries(results)) console.log(median(v.slice(1)).toFixed(1).padStart(8), 'ms ', k, ' runs:', v.map((x) => x.toFixed(0)).join(' '));
