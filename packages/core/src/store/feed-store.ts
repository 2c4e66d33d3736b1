import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

import { ConflictError, InvalidInputError, StratumError } from '../errors.ts';
import { CVE_ID_PATTERN, type EpssScore } from '../feeds/epss.ts';
import type { KevEntry } from '../feeds/kev.ts';
import type { ExploitFacts } from '../triage/risk.ts';
import { batchWrite, type WriteRequest } from './batch.ts';
import { queryAll } from './query.ts';

export const FEED_NAMES = ['EPSS', 'KEV'] as const;
export type FeedName = (typeof FEED_NAMES)[number];

/**
 * A feed's head item: the pointer to the current version plus the refresh bookkeeping. The KEV
 * head also contains the catalog itself (see `replaceKev`).
 */
export interface FeedHead {
  feed: FeedName;
  /** Missing until the first successful refresh. */
  version?: string;
  /** SHA-256 of the downloaded bytes, so an unchanged download is not stored again. */
  contentHash?: string;
  /** Number of CVEs in the current version. */
  count?: number;
  /** The publisher's version: the EPSS model version or the KEV catalogVersion. */
  sourceVersion?: string;
  /** The publisher's date: the EPSS score_date or the KEV dateReleased. */
  publishedAt?: string;
  /** When the current version was stored. */
  storedAt?: string;
  /** When a refresh last succeeded, including refreshes that found the data unchanged. */
  refreshedAt?: string;
  lastError?: string;
  lastErrorAt?: string;
  /** EPSS only: number of partitions the version's score items are spread over. */
  shardCount?: number;
  /** EPSS only: the version that was current before this one, kept until the next refresh. */
  previousVersion?: string;
  previousShardCount?: number;
}

/** Status of one feed, as `status()` returns it. */
export interface FeedStatus {
  feed: FeedName;
  version?: string;
  count?: number;
  sourceVersion?: string;
  publishedAt?: string;
  storedAt?: string;
  refreshedAt?: string;
  /** The latest failure. It stays after later successes, so compare its time with `refreshedAt`. */
  lastError?: { message: string; at?: string };
}

type Item = Record<string, unknown>;
/** EPSS score and percentile; the percentile is missing for files without that column. */
type StoredScore = [number] | [number, number];
type StoredKevEntry = Omit<KevEntry, 'cve'>;

/** BatchGetItem reads at most 100 keys per call. */
const BATCH_GET_SIZE = 100;
/** Up to this many ids, reads fetch only the requested CVEs' map entries; a longer projection would near DynamoDB's 4 KB expression limit. */
const MAX_PROJECTED_IDS = 100;
/** Parallel BatchWriteItem calls while storing or deleting an EPSS version. */
const WRITE_CONCURRENCY = 8;
/**
 * DynamoDB items are at most 400 KB. Stored KEV entries take about 93 bytes each by the JSON
 * estimate below (measured on the test snapshot), so the limit fits about 3,700 entries, nearly
 * three times the 1,280 of February 2025.
 */
const MAX_KEV_ITEM_BYTES = 350_000;
export const EPSS_SHARD_COUNT = 16;
const STATUS_ATTRIBUTES = ['PK', 'version', 'count', 'sourceVersion', 'publishedAt', 'storedAt', 'refreshedAt', 'lastError', 'lastErrorAt'];

/*
 * Keys of the feed items. EPSS and KEV data is public and the same for every tenant, so it is
 * stored once under `G#FEED#` ("global") instead of once per tenant. This is the one exception to
 * the rule that every partition key starts with `T#<tenant>#`. It is safe because the items
 * contain nothing a tenant owns, and because tenant keys always start with `T#`, so no tenant
 * query can reach these items.
 *
 * | item              | PK                                 | SK      |
 * |-------------------|------------------------------------|---------|
 * | feed head         | G#FEED#EPSS or G#FEED#KEV          | HEAD    |
 * | EPSS score block  | G#FEED#EPSS#<version>#<shard>      | <block> |
 *
 * A block is a CVE id without its last two digits (CVE-2021-442 for CVE-2021-44228), so one item
 * holds at most 100 CVEs and the 300,000-row file becomes a few thousand items. The shard, a hash
 * of the block, spreads a version over `shardCount` partitions, and lets the refresh find every
 * item of an old version with one Query per shard.
 */
const key = {
  head: (feed: FeedName) => ({ PK: `G#FEED#${feed}`, SK: 'HEAD' }),
  epssPartition: (version: string, shard: number) => `G#FEED#EPSS#${version}#${shard}`,
  epssBlock: (version: string, shardCount: number, block: string) => ({ PK: key.epssPartition(version, shardOf(block, shardCount)), SK: block }),
};

export function epssBlockOf(cve: string): string {
  return cve.slice(0, -2);
}

/** FNV-1a, 32 bit: stable across releases, which the stored versions depend on. */
function shardOf(block: string, shardCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < block.length; i++) {
    hash ^= block.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shardCount;
}

function stripHead(item: Item): FeedHead {
  const { PK, SK, entity, entries, ...head } = item;
  return head as unknown as FeedHead;
}

function toStatus(feed: FeedName, item: Item | undefined): FeedStatus {
  const head = item ? stripHead(item) : undefined;
  return {
    feed,
    version: head?.version,
    count: head?.count,
    sourceVersion: head?.sourceVersion,
    publishedAt: head?.publishedAt,
    storedAt: head?.storedAt,
    refreshedAt: head?.refreshedAt,
    lastError: head?.lastError ? { message: head.lastError, at: head.lastErrorAt } : undefined,
  };
}

/** Runs tasks with at most `limit` of them in flight; stops starting new ones after a failure. */
async function runLimited(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < tasks.length) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

/**
 * Public exploit data (EPSS scores and the CISA KEV catalog) shared by all tenants. Reads go
 * through each feed's head item, so a refresh becomes visible at once when it replaces the head.
 */
export class FeedStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Returns the exploit facts of each id that either feed lists. Ids without facts, and ids that
   * are not CVE ids (such as GHSA ids), are left out. Ids match case-insensitively, and the map is
   * keyed by the ids as given. One BatchGetItem reads both heads and one more reads each 100
   * score blocks, so up to 100 ids take two requests.
   */
  async getFacts(vulnerabilityIds: string[]): Promise<Map<string, ExploitFacts>> {
    const idsByCve = new Map<string, string[]>();
    for (const id of vulnerabilityIds) {
      const cve = id.trim().toUpperCase();
      if (!CVE_ID_PATTERN.test(cve)) continue;
      const ids = idsByCve.get(cve);
      if (ids) ids.push(id);
      else idsByCve.set(cve, [id]);
    }

    const cves = [...idsByCve.keys()];
    const found = new Map<string, ExploitFacts>();
    if (cves.length === 0) return found;
    const project = cves.length <= MAX_PROJECTED_IDS;

    const heads = await this.batchGet([key.head('EPSS'), key.head('KEV')], ['PK', 'version', 'shardCount', 'publishedAt'], project ? cves : undefined);
    const epssHead = heads.find((item) => item.PK === key.head('EPSS').PK);
    const kevHead = heads.find((item) => item.PK === key.head('KEV').PK);
    const kevEntries = (kevHead?.version ? kevHead.entries : undefined) as Record<string, StoredKevEntry> | undefined;

    const scores: Record<string, StoredScore> = {};
    if (typeof epssHead?.version === 'string') {
      const version = epssHead.version;
      const shardCount = (epssHead.shardCount as number | undefined) ?? EPSS_SHARD_COUNT;
      const blocks = [...new Set(cves.map(epssBlockOf))];
      for (let start = 0; start < blocks.length; start += BATCH_GET_SIZE) {
        const chunk = blocks.slice(start, start + BATCH_GET_SIZE);
        const chunkBlocks = new Set(chunk);
        const items = await this.batchGet(
          chunk.map((block) => key.epssBlock(version, shardCount, block)),
          [],
          project ? cves.filter((cve) => chunkBlocks.has(epssBlockOf(cve))) : undefined,
        );
        for (const item of items) Object.assign(scores, item.entries as Record<string, StoredScore> | undefined);
      }
    }

    const scoreDate = typeof epssHead?.publishedAt === 'string' ? epssHead.publishedAt.slice(0, 10) : undefined;
    for (const [cve, ids] of idsByCve) {
      const facts: ExploitFacts = {};
      const score = scores[cve];
      if (score) facts.epss = { score: score[0], ...(score[1] === undefined ? {} : { percentile: score[1] }), ...(scoreDate ? { date: scoreDate } : {}) };
      const kev = kevEntries?.[cve];
      if (kev) facts.kev = { dateAdded: kev.dateAdded, dueDate: kev.dueDate, knownRansomwareUse: kev.knownRansomwareUse };
      if (facts.epss || facts.kev) for (const id of ids) found.set(id, facts);
    }
    return found;
  }

  /**
   * Reads items by key with BatchGetItem, resending unprocessed keys. Without `entryNames` whole
   * items come back; with them, the listed attributes plus only those entries of the `entries` map.
   */
  private async batchGet(keys: Item[], attributes: string[], entryNames: string[] | undefined): Promise<Item[]> {
    const names: Record<string, string> = {};
    let projection: string | undefined;
    if (entryNames) {
      const paths = attributes.map((attribute, i) => {
        names[`#a${i}`] = attribute;
        return `#a${i}`;
      });
      names['#entries'] = 'entries';
      entryNames.forEach((entry, i) => {
        names[`#e${i}`] = entry;
        paths.push(`#entries.#e${i}`);
      });
      projection = paths.join(', ');
    }

    const items: Item[] = [];
    let request: Record<string, { Keys: Item[]; ProjectionExpression?: string; ExpressionAttributeNames?: Record<string, string> }> | undefined = {
      [this.tableName]: { Keys: keys, ...(projection ? { ProjectionExpression: projection, ExpressionAttributeNames: names } : {}) },
    };
    while (request && Object.keys(request).length > 0) {
      const response = await this.db.send(new BatchGetCommand({ RequestItems: request }));
      items.push(...(response.Responses?.[this.tableName] ?? []));
      request = response.UnprocessedKeys as typeof request;
    }
    return items;
  }

  /** Status of both feeds: current version, counts, last refresh and last error. */
  async status(): Promise<Record<FeedName, FeedStatus>> {
    const response = await this.db.send(
      new BatchGetCommand({
        RequestItems: {
          [this.tableName]: {
            Keys: FEED_NAMES.map((feed) => key.head(feed)),
            // Everything but the KEV entries, which can be 100 KB.
            ProjectionExpression: STATUS_ATTRIBUTES.map((_, i) => `#s${i}`).join(', '),
            ExpressionAttributeNames: Object.fromEntries(STATUS_ATTRIBUTES.map((name, i) => [`#s${i}`, name])),
          },
        },
      }),
    );
    const items = response.Responses?.[this.tableName] ?? [];
    const itemOf = (feed: FeedName) => items.find((item) => item.PK === key.head(feed).PK);
    return { EPSS: toStatus('EPSS', itemOf('EPSS')), KEV: toStatus('KEV', itemOf('KEV')) };
  }

  /** Reads a feed's head without the KEV entries; undefined before anything was stored. */
  async readHead(feed: FeedName): Promise<FeedHead | undefined> {
    // A strongly consistent read, so the version compared in the conditional write is the latest one.
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.head(feed), ConsistentRead: true }));
    return response.Item ? { ...stripHead(response.Item), feed } : undefined;
  }

  /**
   * Writes the score blocks of a new EPSS version. Nothing reads them until `activateEpss` points
   * the head at the version. Throws an InvalidInputError when a CVE appears twice.
   */
  async putEpssScores(version: string, scores: Iterable<EpssScore>, shardCount = EPSS_SHARD_COUNT): Promise<{ items: number }> {
    const blocks = new Map<string, Record<string, StoredScore>>();
    for (const { cve, score, percentile } of scores) {
      const block = epssBlockOf(cve);
      let entries = blocks.get(block);
      if (!entries) {
        entries = {};
        blocks.set(block, entries);
      }
      if (entries[cve]) throw new InvalidInputError(`Invalid EPSS CSV: ${cve} is listed twice`, { format: 'EPSS CSV', value: cve });
      entries[cve] = percentile === undefined ? [score] : [score, percentile];
    }

    const requests: WriteRequest[] = [...blocks].map(([block, entries]) => ({
      PutRequest: { Item: { ...key.epssBlock(version, shardCount, block), entity: 'epssScores', entries } },
    }));
    await this.writeInParallel(requests);
    return { items: requests.length };
  }

  /**
   * Points the EPSS head at a version whose blocks are stored. The write succeeds only while the
   * head still points at `expectedVersion` (undefined: no version yet). Of two concurrent
   * refreshes only one wins, and the other gets a ConflictError.
   */
  async activateEpss(head: FeedHead, expectedVersion: string | undefined): Promise<void> {
    await this.putHead({ ...head, feed: 'EPSS' }, {}, expectedVersion);
  }

  /** Deletes every score block of an EPSS version; returns how many items were deleted. */
  async deleteEpssVersion(version: string, shardCount = EPSS_SHARD_COUNT): Promise<number> {
    const requests: WriteRequest[] = [];
    for (let shard = 0; shard < shardCount; shard++) {
      const items = await queryAll(this.db, this.tableName, {
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': key.epssPartition(version, shard) },
        ProjectionExpression: 'PK, SK',
      });
      for (const item of items) requests.push({ DeleteRequest: { Key: { PK: item.PK, SK: item.SK } } });
    }
    await this.writeInParallel(requests);
    return requests.length;
  }

  /**
   * Replaces the KEV catalog. The whole catalog lives in the KEV head item, so one conditional
   * PutItem swaps the old catalog for the new one and no reader can see a mix of both. The
   * condition is the same as in `activateEpss`.
   */
  async replaceKev(head: FeedHead, entries: KevEntry[], expectedVersion: string | undefined): Promise<void> {
    const stored: Record<string, StoredKevEntry> = {};
    for (const { cve, ...entry } of entries) stored[cve] = entry;

    // JSON is slightly longer than DynamoDB's item encoding, so this estimate errs on the safe side.
    const size = JSON.stringify(stored).length;
    if (size > MAX_KEV_ITEM_BYTES) {
      throw new StratumError(
        `The KEV catalog of ${entries.length} entries needs about ${size} bytes, above the ${MAX_KEV_ITEM_BYTES}-byte budget of one DynamoDB item; it must be split over several items`,
      );
    }
    await this.putHead({ ...head, feed: 'KEV' }, { entries: stored }, expectedVersion);
  }

  /** Records a refresh that found the download unchanged. */
  async markRefreshed(feed: FeedName, at: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key.head(feed),
        UpdateExpression: 'SET refreshedAt = :at',
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeValues: { ':at': at },
      }),
    );
  }

  /** Records a failed refresh on the head and leaves the stored data as it is. */
  async recordFailure(feed: FeedName, message: string, at: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key.head(feed),
        UpdateExpression: 'SET #feed = :feed, #entity = :entity, #lastError = :message, #lastErrorAt = :at',
        ExpressionAttributeNames: { '#feed': 'feed', '#entity': 'entity', '#lastError': 'lastError', '#lastErrorAt': 'lastErrorAt' },
        ExpressionAttributeValues: { ':feed': feed, ':entity': 'feedHead', ':message': message, ':at': at },
      }),
    );
  }

  private async putHead(head: FeedHead, extra: Item, expectedVersion: string | undefined): Promise<void> {
    const condition =
      expectedVersion === undefined
        ? { ConditionExpression: 'attribute_not_exists(#version)', ExpressionAttributeNames: { '#version': 'version' } }
        : { ConditionExpression: '#version = :expected', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':expected': expectedVersion } };
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...key.head(head.feed), entity: 'feedHead', ...head, ...extra }, ...condition }));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(`The ${head.feed} feed changed while it was being refreshed; another refresh stored its version first`, { cause: error });
      }
      throw error;
    }
  }

  private async writeInParallel(requests: WriteRequest[]): Promise<void> {
    const tasks: Array<() => Promise<void>> = [];
    for (let start = 0; start < requests.length; start += 25) {
      const chunk = requests.slice(start, start + 25);
      tasks.push(() => batchWrite(this.db, this.tableName, chunk));
    }
    await runLimited(tasks, WRITE_CONCURRENCY);
  }
}
