import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { FeedStore, fixedClock, refreshFeeds, silentLogger, type FeedName, type Logger, type RefreshResult } from '@stratum/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { handleFeedsRefresh } from '../packages/functions/src/feeds-refresh.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const fixture = (name: string) => readFileSync(new URL(`fixtures/feeds/${name}`, import.meta.url));
const EPSS_1 = fixture('epss_scores-2026-12-03.csv.gz');
const EPSS_2 = fixture('epss_scores-2026-12-04.csv.gz');
const KEV_1 = fixture('known_exploited_vulnerabilities-2026.12.03.json');
const KEV_2 = fixture('known_exploited_vulnerabilities-2026.12.04.json');

type Route = (response: ServerResponse) => void;

const serve =
  (body: Buffer, type: string): Route =>
  (response) => {
    response.writeHead(200, { 'content-type': type, 'content-length': body.length });
    response.end(body);
  };
const gzipFile = (body: Buffer) => serve(body, 'application/gzip');
const jsonFile = (body: Buffer) => serve(body, 'application/json');
const status500: Route = (response) => {
  response.writeHead(500, { 'content-type': 'text/plain' });
  response.end('internal error');
};

/** Feed files by path; each test points the paths at the snapshot it needs. */
const routes = new Map<string, Route>();
const requests: string[] = [];
let server: Server;
let baseUrl: string;
let testStore: TestStore;
let feeds: FeedStore;
const clock = fixedClock('2026-12-03T06:30:00Z');

function spyLogger() {
  return { debug: vi.fn<Logger['debug']>(), info: vi.fn<Logger['info']>(), warn: vi.fn<Logger['warn']>(), error: vi.fn<Logger['error']>() };
}

function refresh(options: { epss?: string; kev?: string; logger?: Logger; limits?: Parameters<typeof refreshFeeds>[0]['limits'] } = {}): Promise<RefreshResult> {
  clock.advance(24 * 3600 * 1000);
  return refreshFeeds({
    store: feeds,
    epssUrl: `${baseUrl}${options.epss ?? '/epss_scores-current.csv.gz'}`,
    kevUrl: `${baseUrl}${options.kev ?? '/known_exploited_vulnerabilities.json'}`,
    clock,
    logger: options.logger ?? silentLogger,
    limits: options.limits,
  });
}

/** Versions that still have EPSS score items in the table. */
async function storedEpssVersions(): Promise<string[]> {
  const versions = new Set<string>();
  let start: Record<string, unknown> | undefined;
  do {
    const response = await testStore.store.db.send(
      new ScanCommand({ TableName: testStore.tableName, FilterExpression: 'begins_with(PK, :prefix)', ExpressionAttributeValues: { ':prefix': 'G#FEED#EPSS#' }, ExclusiveStartKey: start }),
    );
    for (const item of response.Items ?? []) versions.add((item.PK as string).split('#')[3]!);
    start = response.LastEvaluatedKey;
  } while (start);
  return [...versions].sort();
}

beforeAll(async () => {
  testStore = await startTestStore();
  feeds = new FeedStore(testStore.store.db, testStore.tableName);

  server = createServer((request, response) => {
    requests.push(request.url ?? '');
    const route = routes.get(request.url ?? '');
    if (route) return route(response);
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await testStore.close();
});

describe('before any refresh', () => {
  it('getFacts returns nothing', async () => {
    expect((await feeds.getFacts(['CVE-2021-44228'])).size).toBe(0);
  });

  it('status has no versions', async () => {
    const status = await feeds.status();
    expect(status.EPSS.version).toBeUndefined();
    expect(status.KEV.version).toBeUndefined();
  });
});

describe('first refresh', () => {
  let result: RefreshResult;

  beforeAll(async () => {
    routes.set('/epss_scores-current.csv.gz', gzipFile(EPSS_1));
    routes.set('/known_exploited_vulnerabilities.json', jsonFile(KEV_1));
    result = await refresh();
  });

  it('stores every EPSS row', () => {
    expect(result.epss).toMatchObject({ status: 'updated', count: 21104 });
  });

  it('stores every KEV entry', () => {
    expect(result.kev).toMatchObject({ status: 'updated', count: 220 });
  });

  it('returns Log4Shell EPSS', async () => {
    const facts = await feeds.getFacts(['CVE-2021-44228']);
    expect(facts.get('CVE-2021-44228')?.epss).toEqual({ score: 0.94358, percentile: 0.9936, date: '2026-12-03' });
  });

  it('returns Log4Shell KEV', async () => {
    const facts = await feeds.getFacts(['CVE-2021-44228']);
    expect(facts.get('CVE-2021-44228')?.kev).toEqual({ dateAdded: '2021-12-10', dueDate: '2021-12-24', knownRansomwareUse: true });
  });

  it.each([
    ['CVE-2021-42378', 0.00512],
    ['CVE-2019-18276', 0.00371],
    ['CVE-2023-0286', 0.00698],
  ])('returns %s EPSS only', async (cve, score) => {
    const facts = (await feeds.getFacts([cve])).get(cve);
    expect(facts?.epss?.score).toBe(score);
    expect(facts?.kev).toBeUndefined();
  });

  it('omits unknown CVEs', async () => {
    const facts = await feeds.getFacts(['CVE-2099-99999', 'CVE-2021-44228']);
    expect([...facts.keys()]).toEqual(['CVE-2021-44228']);
  });

  it('omits non-CVE ids', async () => {
    const facts = await feeds.getFacts(['GHSA-jfh8-c2jp-5v3q', 'not an id', '']);
    expect(facts.size).toBe(0);
  });

  it('matches ids case-insensitively', async () => {
    const facts = await feeds.getFacts([' cve-2021-44228']);
    expect(facts.get(' cve-2021-44228')?.epss?.score).toBe(0.94358);
  });

  it('answers an empty list without requests', async () => {
    testStore.commands.length = 0;
    await feeds.getFacts([]);
    expect(testStore.commands).toEqual([]);
  });

  it('reads 100 ids in two requests', async () => {
    const ids = ['CVE-2021-44228', 'CVE-2099-0001', ...Array.from({ length: 98 }, (_, i) => `CVE-${2001 + (i % 25)}-${String(100 + i * 5).padStart(4, '0')}`)];
    testStore.commands.length = 0;
    const facts = await feeds.getFacts(ids);
    expect(testStore.commands.length).toBeLessThanOrEqual(2);
    expect(facts.size).toBeGreaterThan(50);
  });

  it('reads 250 ids in four requests', async () => {
    const ids = ['CVE-2021-44228', ...Array.from({ length: 249 }, (_, i) => `CVE-${1999 + (i % 28)}-${String(30 + i * 3).padStart(4, '0')}`)];
    testStore.commands.length = 0;
    const facts = await feeds.getFacts(ids);
    expect(testStore.commands).toEqual(['BatchGetItemCommand', 'BatchGetItemCommand', 'BatchGetItemCommand', 'BatchGetItemCommand']);
    expect(facts.get('CVE-2021-44228')?.kev?.dateAdded).toBe('2021-12-10');
  });

  it('gives many ids the same values as one', async () => {
    const ids = ['CVE-2021-44228', ...Array.from({ length: 249 }, (_, i) => `CVE-2024-${10000 + i}`)];
    const many = await feeds.getFacts(ids);
    const one = await feeds.getFacts(['CVE-2024-10007']);
    expect(many.get('CVE-2024-10007')).toEqual(one.get('CVE-2024-10007'));
  });

  it('reports both feeds in status', async () => {
    const status = await feeds.status();
    expect(status.EPSS).toMatchObject({ count: 21104, sourceVersion: 'v2025.03.14', publishedAt: '2026-12-03T12:55:00.000Z', refreshedAt: '2026-12-04T06:30:00.000Z' });
    expect(status.KEV).toMatchObject({ count: 220, sourceVersion: '2026.12.03', publishedAt: '2026-12-03T16:02:11.887Z' });
  });

  it('names versions by time and content', async () => {
    expect(result.epss).toMatchObject({ version: expect.stringMatching(/^20261204T063000Z-[0-9a-f]{8}$/) });
  });
});

describe('unchanged downloads', () => {
  it('are not stored again', async () => {
    const before = await feeds.status();
    const result = await refresh();
    expect(result.epss).toEqual({ feed: 'EPSS', status: 'unchanged', version: before.EPSS.version, count: 21104 });
    expect(result.kev).toEqual({ feed: 'KEV', status: 'unchanged', version: before.KEV.version, count: 220 });
  });

  it('update refreshedAt', async () => {
    const status = await feeds.status();
    expect(status.EPSS.refreshedAt).toBe('2026-12-05T06:30:00.000Z');
    expect(status.EPSS.storedAt).toBe('2026-12-04T06:30:00.000Z');
  });
});

describe('refresh with KEV failing', () => {
  let result: RefreshResult;
  const logger = spyLogger();

  beforeAll(async () => {
    routes.set('/epss_scores-current.csv.gz', gzipFile(EPSS_2));
    routes.set('/known_exploited_vulnerabilities.json', status500);
    result = await refresh({ logger });
  });

  it('still updates EPSS', () => {
    expect(result.epss).toMatchObject({ status: 'updated', count: 20885 });
  });

  it('reports the KEV failure', () => {
    expect(result.kev).toEqual({ feed: 'KEV', status: 'failed', error: `GET ${baseUrl}/known_exploited_vulnerabilities.json failed with HTTP 500 Internal Server Error` });
  });

  it('logs the KEV failure', () => {
    expect(logger.error).toHaveBeenCalledWith('feed refresh failed; the stored data stays', expect.objectContaining({ feed: 'KEV', error: expect.stringContaining('HTTP 500') }));
  });

  it('replaces EPSS values', async () => {
    const facts = await feeds.getFacts(['CVE-2021-44228']);
    expect(facts.get('CVE-2021-44228')?.epss).toEqual({ score: 0.94412, percentile: 0.99397, date: '2026-12-04' });
  });

  it('drops CVEs missing from the new file', async () => {
    const facts = await feeds.getFacts(['CVE-2019-18276']);
    expect(facts.has('CVE-2019-18276')).toBe(false);
  });

  it('adds CVEs new in the file', async () => {
    const facts = await feeds.getFacts(['CVE-2026-40001']);
    expect(facts.get('CVE-2026-40001')?.epss?.score).toBe(0.61234);
  });

  it('keeps the old KEV data', async () => {
    const facts = await feeds.getFacts(['CVE-2021-44228', 'CVE-2021-45046']);
    expect(facts.get('CVE-2021-44228')?.kev?.dueDate).toBe('2021-12-24');
    expect(facts.get('CVE-2021-45046')?.kev?.knownRansomwareUse).toBe(false);
  });

  it('records the KEV error in status', async () => {
    const status = await feeds.status();
    expect(status.KEV.lastError).toEqual({ message: expect.stringContaining('HTTP 500'), at: '2026-12-06T06:30:00.000Z' });
    expect(status.KEV.count).toBe(220);
  });

  it('keeps the previous EPSS version', async () => {
    expect(await storedEpssVersions()).toHaveLength(2);
  });
});

describe('refresh after the KEV failure', () => {
  let result: RefreshResult;

  beforeAll(async () => {
    routes.set('/epss_scores-current.csv.gz', gzipFile(EPSS_1));
    routes.set('/known_exploited_vulnerabilities.json', jsonFile(KEV_2));
    result = await refresh();
  });

  it('replaces the KEV catalog', async () => {
    expect(result.kev).toMatchObject({ status: 'updated', count: 221 });
    const facts = await feeds.getFacts(['CVE-2021-45046', 'CVE-2026-40001']);
    expect(facts.get('CVE-2021-45046')?.kev?.knownRansomwareUse).toBe(true);
    expect(facts.get('CVE-2026-40001')?.kev).toEqual({ dateAdded: '2026-12-04', dueDate: '2026-12-25', knownRansomwareUse: false });
  });

  it('deletes the oldest EPSS version', async () => {
    const deleted = result.epss.status === 'updated' ? result.epss.deletedItems : 0;
    expect(deleted).toBeGreaterThan(100);
    expect(await storedEpssVersions()).toHaveLength(2);
  });

  it('keeps the last KEV error with its time', async () => {
    const status = await feeds.status();
    expect(status.KEV.lastError?.at).toBe('2026-12-06T06:30:00.000Z');
    expect(status.KEV.storedAt).toBe('2026-12-07T06:30:00.000Z');
  });
});

describe('failed downloads', () => {
  beforeAll(() => {
    routes.set('/hang', () => {
      // Never responds, so only the timeout ends the request.
    });
    routes.set('/big-declared', gzipFile(Buffer.alloc(5000)));
    routes.set('/big-chunked', (response) => {
      response.writeHead(200, { 'content-type': 'application/gzip' });
      for (let i = 0; i < 10; i++) response.write(Buffer.alloc(1000));
      response.end();
    });
    routes.set('/bad-row.csv.gz', gzipFile(gzipSync('#model_version:v2025.03.14,score_date:2026-12-08T00:00:00Z\ncve,epss,percentile\nCVE-2021-44228,0.5,0.5\nCVE-2021-44229,5,0.5\n')));
    routes.set('/header-only.csv.gz', gzipFile(gzipSync('cve,epss,percentile\n')));
    routes.set('/bad-kev.json', jsonFile(Buffer.from(JSON.stringify({ catalogVersion: '1', dateReleased: '2026-12-08T00:00:00Z', count: 1, vulnerabilities: [{ cveID: 'CVE-2021-44228' }] }))));
  });

  it('times out a silent server', async () => {
    const result = await refresh({ epss: '/hang', kev: '/hang', limits: { timeoutMs: 200 } });
    expect(result.epss).toMatchObject({ status: 'failed', error: `GET ${baseUrl}/hang timed out after 200 ms` });
  });

  it('rejects a declared size over the limit', async () => {
    const result = await refresh({ epss: '/big-declared', limits: { epssMaxBytes: 4096 } });
    expect(result.epss).toMatchObject({ status: 'failed', error: `GET ${baseUrl}/big-declared returned 5000 bytes, more than the limit of 4096` });
  });

  it('rejects a streamed size over the limit', async () => {
    const result = await refresh({ epss: '/big-chunked', limits: { epssMaxBytes: 4096 } });
    expect(result.epss).toMatchObject({ status: 'failed', error: `GET ${baseUrl}/big-chunked returned more than the limit of 4096 bytes` });
  });

  it('applies the KEV size limit', async () => {
    const result = await refresh({ limits: { kevMaxBytes: 1000 } });
    expect(result.kev).toMatchObject({ status: 'failed', error: expect.stringContaining('more than the limit of 1000') });
  });

  it('reports a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const result = await refreshFeeds({ store: feeds, epssUrl: `http://127.0.0.1:${port}/x`, kevUrl: `http://127.0.0.1:${port}/y`, clock, logger: silentLogger });
    expect(result.epss).toMatchObject({ status: 'failed', error: expect.stringContaining('ECONNREFUSED') });
  });

  it('names the bad EPSS line', async () => {
    const result = await refresh({ epss: '/bad-row.csv.gz' });
    expect(result.epss).toMatchObject({ status: 'failed', error: 'Invalid EPSS CSV at line 4: epss "5" is not a number from 0 to 1' });
  });

  it('rejects an EPSS file without rows', async () => {
    const result = await refresh({ epss: '/header-only.csv.gz' });
    expect(result.epss).toMatchObject({ status: 'failed', error: `The EPSS file from ${baseUrl}/header-only.csv.gz has no rows` });
  });

  it('names the bad KEV path', async () => {
    const result = await refresh({ kev: '/bad-kev.json' });
    expect(result.kev).toMatchObject({ status: 'failed', error: expect.stringContaining('at vulnerabilities[0].vendorProject') });
  });

  it('keeps the stored data', async () => {
    const facts = await feeds.getFacts(['CVE-2021-44228']);
    expect(facts.get('CVE-2021-44228')?.epss?.score).toBe(0.94358);
    expect(facts.get('CVE-2021-44228')?.kev?.dateAdded).toBe('2021-12-10');
  });

  it('leaves no partial EPSS version', async () => {
    expect(await storedEpssVersions()).toHaveLength(2);
  });
});

describe('concurrent refreshes', () => {
  /** Reads every head as it was before another refresh replaced it. */
  class StaleFeedStore extends FeedStore {
    override async readHead(feed: FeedName) {
      const head = await super.readHead(feed);
      return head && { ...head, version: 'replaced-meanwhile' };
    }
  }

  let result: RefreshResult;

  beforeAll(async () => {
    routes.set('/epss-stale.csv.gz', gzipFile(EPSS_2));
    clock.advance(24 * 3600 * 1000);
    result = await refreshFeeds({
      store: new StaleFeedStore(testStore.store.db, testStore.tableName),
      epssUrl: `${baseUrl}/epss-stale.csv.gz`,
      kevUrl: `${baseUrl}/known_exploited_vulnerabilities.json`,
      clock,
      logger: silentLogger,
    });
  });

  it('lose to the one that stored first', () => {
    expect(result.epss).toEqual({
      feed: 'EPSS',
      status: 'failed',
      error: 'The EPSS feed changed while it was being refreshed; another refresh stored its version first',
    });
  });

  it('leave no orphaned version', async () => {
    expect(await storedEpssVersions()).toHaveLength(2);
  });

  it('leave the current values', async () => {
    const facts = await feeds.getFacts(['CVE-2021-44228']);
    expect(facts.get('CVE-2021-44228')?.epss?.score).toBe(0.94358);
  });
});

describe('KEV item size', () => {
  it('rejects a catalog too big for one item', async () => {
    const entries = Array.from({ length: 5000 }, (_, i) => ({ cve: `CVE-2030-${10000 + i}`, dateAdded: '2030-01-01', dueDate: '2030-01-22', knownRansomwareUse: false }));
    const head = await feeds.readHead('KEV');
    await expect(feeds.replaceKev({ feed: 'KEV', version: 'too-big' }, entries, head?.version)).rejects.toThrow(/^The KEV catalog of 5000 entries needs about \d+ bytes, above the 350000-byte budget/);
  });
});

describe('feeds-refresh handler', () => {
  const dependencies = (logger: Logger) => ({ store: testStore.store, clock, logger });
  const env = (epss: string, kev: string) => ({ STRATUM_EPSS_URL: `${baseUrl}${epss}`, STRATUM_KEV_URL: `${baseUrl}${kev}` });

  beforeAll(() => {
    routes.set('/handler/epss.csv.gz', gzipFile(EPSS_1));
    routes.set('/handler/kev.json', jsonFile(KEV_1));
    routes.set('/handler/fail', status500);
  });

  it('reads the URLs from the environment', async () => {
    requests.length = 0;
    await handleFeedsRefresh(dependencies(silentLogger), {}, { env: env('/handler/epss.csv.gz', '/handler/kev.json') });
    expect(requests.sort()).toEqual(['/handler/epss.csv.gz', '/handler/kev.json']);
  });

  it('returns when one feed fails', async () => {
    const logger = spyLogger();
    const result = await handleFeedsRefresh(dependencies(logger), {}, { env: env('/handler/epss.csv.gz', '/handler/fail') });
    expect(result.kev.status).toBe('failed');
    expect(logger.warn).toHaveBeenCalledWith('feeds refresh finished with one feed failed', expect.objectContaining({ kev: result.kev }));
  });

  it('throws when both feeds fail', async () => {
    const logger = spyLogger();
    await expect(handleFeedsRefresh(dependencies(logger), { id: 'event-1' }, { env: env('/handler/fail', '/handler/fail') })).rejects.toThrow(/^Feeds refresh failed for both feeds\. EPSS: GET .* HTTP 500/);
    expect(logger.error).toHaveBeenCalledWith('feeds refresh failed for both feeds', expect.objectContaining({ eventId: 'event-1' }));
  });
});
