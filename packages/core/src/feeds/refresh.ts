import { createHash } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { StratumError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { EPSS_SHARD_COUNT, type FeedName, type FeedStore } from '../store/feed-store.ts';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, isGzip, parseEpssCsv, parseEpssCsvGzip, type EpssScore } from './epss.ts';
import { parseKevCatalog } from './kev.ts';

/**
 * Publisher addresses as of 2026. FIRST's EPSS data page links the daily file on
 * epss.empiricalsecurity.com (the host moved from epss.cyentia.com, which now redirects), and
 * CISA publishes the KEV catalog JSON under /sites/default/files/feeds/.
 */
export const DEFAULT_EPSS_URL = 'https://epss.empiricalsecurity.com/epss_scores-current.csv.gz';
export const DEFAULT_KEV_URL = 'https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json';

export interface FeedLimits {
  /** Largest EPSS download accepted, in bytes (compressed). */
  epssMaxBytes: number;
  /** Largest KEV download accepted, in bytes. */
  kevMaxBytes: number;
  /** Largest decompressed EPSS file accepted, in bytes. */
  epssMaxDecompressedBytes: number;
  /** Time allowed for one download, headers and body, in milliseconds. */
  timeoutMs: number;
}

/** Far above the real sizes: the KEV JSON of February 2025 is 276 KB, and the EPSS file is a few MB compressed (an estimate). */
export const DEFAULT_FEED_LIMITS: FeedLimits = {
  epssMaxBytes: 50 * 1024 * 1024,
  kevMaxBytes: 20 * 1024 * 1024,
  epssMaxDecompressedBytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
  timeoutMs: 60_000,
};

export interface RefreshFeedsOptions {
  store: FeedStore;
  /** The HTTP client; the global fetch when omitted. */
  fetch?: typeof fetch;
  epssUrl: string;
  kevUrl: string;
  clock: Clock;
  logger: Logger;
  limits?: Partial<FeedLimits>;
}

export type FeedOutcome =
  | { feed: FeedName; status: 'updated'; version: string; count: number; deletedItems: number }
  | { feed: FeedName; status: 'unchanged'; version: string; count?: number }
  | { feed: FeedName; status: 'failed'; error: string };

export interface RefreshResult {
  epss: FeedOutcome;
  kev: FeedOutcome;
}

/** A download that failed: an HTTP error status, a timeout, a body over the size limit or a network error. */
export class FeedDownloadError extends StratumError {
  override readonly code = 'FEED_DOWNLOAD_FAILED';
}

interface Context {
  store: FeedStore;
  fetch: typeof fetch;
  clock: Clock;
  logger: Logger;
  limits: FeedLimits;
}

/**
 * Downloads EPSS and the CISA KEV catalog, validates them and stores them, each on its own. A
 * feed that fails is logged, recorded on its head item and reported as `failed`. Its stored data
 * stays as it was, and the other feed goes on.
 *
 * Why readers never see half a feed:
 * - EPSS has about 300,000 rows, too many for one write. The refresh writes the new version's
 *   score blocks under new keys, then replaces the head item with a conditional PutItem, which
 *   switches every reader to the new version at once. The version that was current before stays
 *   stored until the next refresh, because a reader that read the old head a moment before the
 *   switch still reads its blocks; the refresh deletes the version before that one. If anything
 *   fails before the switch, the half-written new version is deleted and the head never saw it.
 * - The KEV catalog (about 1,300 entries) fits in the head item itself, so one conditional PutItem
 *   replaces it whole.
 */
export async function refreshFeeds(options: RefreshFeedsOptions): Promise<RefreshResult> {
  const context: Context = {
    store: options.store,
    fetch: options.fetch ?? globalThis.fetch,
    clock: options.clock,
    logger: options.logger,
    limits: { ...DEFAULT_FEED_LIMITS, ...options.limits },
  };

  const [epss, kev] = await Promise.all([
    runFeed(context, 'EPSS', options.epssUrl, () => refreshEpss(context, options.epssUrl)),
    runFeed(context, 'KEV', options.kevUrl, () => refreshKev(context, options.kevUrl)),
  ]);
  return { epss, kev };
}

async function runFeed(context: Context, feed: FeedName, url: string, refresh: () => Promise<FeedOutcome>): Promise<FeedOutcome> {
  const started = Date.now();
  try {
    const outcome = await refresh();
    context.logger.info(outcome.status === 'updated' ? 'feed refreshed' : 'feed unchanged', { ...outcome, url, durationMs: Date.now() - started });
    return outcome;
  } catch (error) {
    const message = (error as Error).message;
    context.logger.error('feed refresh failed; the stored data stays', { feed, url, error: message, durationMs: Date.now() - started });
    try {
      await context.store.recordFailure(feed, message, context.clock.now().toISOString());
    } catch (recordError) {
      context.logger.error('could not record the feed refresh failure', { feed, error: (recordError as Error).message });
    }
    return { feed, status: 'failed', error: message };
  }
}

/** A new version id: the refresh time, then the start of the content hash, e.g. 20261203T063000Z-1a2b3c4d. */
function versionId(now: Date, contentHash: string): string {
  return `${now.toISOString().replace(/[-:]|\.\d+/g, '')}-${contentHash.slice(0, 8)}`;
}

function hashOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function refreshEpss(context: Context, url: string): Promise<FeedOutcome> {
  const { store, clock, logger, limits } = context;
  const bytes = await download(context.fetch, url, limits.epssMaxBytes, limits.timeoutMs);
  const contentHash = hashOf(bytes);
  const head = await store.readHead('EPSS');
  const now = clock.now();

  if (head?.version && head.contentHash === contentHash) {
    await store.markRefreshed('EPSS', now.toISOString());
    return { feed: 'EPSS', status: 'unchanged', version: head.version, count: head.count };
  }

  const scores: EpssScore[] = [];
  const collect = (score: EpssScore) => {
    scores.push(score);
  };
  // A server that sets Content-Encoding: gzip has its body decompressed by fetch already.
  const info = isGzip(bytes)
    ? await parseEpssCsvGzip(bytes, collect, { maxDecompressedBytes: limits.epssMaxDecompressedBytes })
    : parseEpssCsv(Buffer.from(bytes).toString('utf8'), collect);
  if (info.rowCount === 0) throw new StratumError(`The EPSS file from ${url} has no rows`);

  const version = versionId(now, contentHash);
  try {
    await store.putEpssScores(version, scores, EPSS_SHARD_COUNT);
    await store.activateEpss(
      {
        feed: 'EPSS',
        version,
        shardCount: EPSS_SHARD_COUNT,
        previousVersion: head?.version,
        previousShardCount: head?.shardCount,
        contentHash,
        count: info.rowCount,
        sourceVersion: info.modelVersion,
        publishedAt: info.scoreDate,
        storedAt: now.toISOString(),
        refreshedAt: now.toISOString(),
        lastError: head?.lastError,
        lastErrorAt: head?.lastErrorAt,
      },
      head?.version,
    );
  } catch (error) {
    // The head never pointed at the new version, so its blocks are unreachable and can go.
    try {
      await store.deleteEpssVersion(version, EPSS_SHARD_COUNT);
    } catch (cleanupError) {
      logger.error('could not delete the EPSS version of a failed refresh; its items stay unused', { version, error: (cleanupError as Error).message });
    }
    throw error;
  }

  let deletedItems = 0;
  const retired = head?.previousVersion;
  if (retired && retired !== head.version && retired !== version) {
    try {
      deletedItems = await store.deleteEpssVersion(retired, head.previousShardCount ?? EPSS_SHARD_COUNT);
    } catch (error) {
      // The new data is in place; only storage is wasted until someone deletes the old items.
      logger.warn('could not delete an old EPSS version; its items stay unused', { version: retired, error: (error as Error).message });
    }
  }

  return { feed: 'EPSS', status: 'updated', version, count: info.rowCount, deletedItems };
}

async function refreshKev(context: Context, url: string): Promise<FeedOutcome> {
  const { store, clock, limits } = context;
  const bytes = await download(context.fetch, url, limits.kevMaxBytes, limits.timeoutMs);
  const contentHash = hashOf(bytes);
  const head = await store.readHead('KEV');
  const now = clock.now();

  if (head?.version && head.contentHash === contentHash) {
    await store.markRefreshed('KEV', now.toISOString());
    return { feed: 'KEV', status: 'unchanged', version: head.version, count: head.count };
  }

  const catalog = parseKevCatalog(bytes);
  const version = versionId(now, contentHash);
  await store.replaceKev(
    {
      feed: 'KEV',
      version,
      contentHash,
      count: catalog.entries.length,
      sourceVersion: catalog.catalogVersion,
      publishedAt: catalog.dateReleased,
      storedAt: now.toISOString(),
      refreshedAt: now.toISOString(),
      lastError: head?.lastError,
      lastErrorAt: head?.lastErrorAt,
    },
    catalog.entries,
    head?.version,
  );
  return { feed: 'KEV', status: 'updated', version, count: catalog.entries.length, deletedItems: 0 };
}

/**
 * Downloads a file into memory. Rejects an HTTP error status, a Content-Length over `maxBytes`,
 * and a body that grows past `maxBytes` without one; the timeout covers headers and body.
 */
async function download(fetchImpl: typeof fetch, url: string, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetchImpl(url, { signal, redirect: 'follow' });
    if (!response.ok) {
      await response.body?.cancel();
      throw new FeedDownloadError(`GET ${url} failed with HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    }

    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.body?.cancel();
      throw new FeedDownloadError(`GET ${url} returned ${declared} bytes, more than the limit of ${maxBytes}`);
    }
    if (!response.body) return new Uint8Array();

    const chunks: Uint8Array[] = [];
    let received = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (received > maxBytes) {
        await reader.cancel();
        throw new FeedDownloadError(`GET ${url} returned more than the limit of ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof FeedDownloadError) throw error;
    if (signal.aborted) throw new FeedDownloadError(`GET ${url} timed out after ${timeoutMs} ms`, { cause: error });
    throw new FeedDownloadError(`GET ${url} failed: ${describeNetworkError(error)}`, { cause: error });
  }
}

/** undici reports network failures as "fetch failed" with the reason in `cause`. */
function describeNetworkError(error: unknown): string {
  const message = (error as Error).message;
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  return cause?.message ? `${message} (${cause.code ?? cause.message})` : message;
}
