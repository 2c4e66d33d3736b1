import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

import { BatchGetCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

import type { AnalysisFiles, StoredAnalysis, StoredPackage } from '../analysis/stored-analysis.ts';
import { ConflictError } from '../errors.ts';
import { batchWrite } from './batch.ts';
import { assertTenant } from './keys.ts';
import { assertPageSize, type Page, type PageRequest } from './paging.ts';
import { queryAll, queryPage, stripKeys } from './query.ts';

type Item = Record<string, unknown>;

/**
 * Compressed file-list bytes per item. DynamoDB items stop at 400 KB, and the rest of the
 * item (keys, names) needs room too.
 */
const FILES_CHUNK_BYTES = 300 * 1024;

/**
 * Keys of the analysis items. One partition per analysed digest contains every version's items
 * under `V#version#`, the HEAD item naming the current version, and the runtime observations.
 */
const key = {
  partition: (tenant: string, digest: string) => `T#${tenant}#ANALYSIS#${digest}`,
  head: (tenant: string, digest: string) => ({ PK: key.partition(tenant, digest), SK: 'HEAD' }),
  alias: (tenant: string, digest: string) => ({ PK: key.partition(tenant, digest), SK: 'ALIAS' }),
  summary: (version: string) => `V#${version}#A`,
  packagePrefix: (version: string) => `V#${version}#P#`,
  filesPrefix: (version: string) => `V#${version}#F#`,
  observationPrefix: 'OBS#',
};

/** The HEAD item: which version is current, and in which partition its items are. */
export interface AnalysisHead {
  imageDigest: string;
  version: string;
  analyzedAt: string;
}

/** An analysis without its packages. */
export type AnalysisSummary = Omit<StoredAnalysis, 'packages'>;

/** Files and packages seen loaded in a running container of an image, as an agent reported them. */
export interface RuntimeObservation {
  id: string;
  at: string;
  /** The sender: the GraphQL actor. */
  actor: string;
  /** The observer, for example an eBPF agent's name. */
  source: string;
  files: string[];
  packages: string[];
}

/**
 * Orders versions: a zero-padded sequence number, then a random suffix so two writers of the
 * same sequence never share items.
 */
export function nextVersion(previous: string | undefined): string {
  const sequence = previous ? Number.parseInt(previous.split('-')[0]!, 10) + 1 : 1;
  return `${String(sequence).padStart(10, '0')}-${randomUUID().slice(0, 8)}`;
}

function sequenceOf(version: string): number {
  return Number.parseInt(version.split('-')[0]!, 10);
}

/**
 * Content analyses per image digest. Replacing an analysis writes the new version's items
 * first, then moves the HEAD item to it with a conditional write, then deletes the old
 * version's items, so a reader that goes through HEAD reads one whole version or the other.
 */
export class AnalysisStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly tenant: string,
  ) {
    assertTenant(tenant);
  }

  /** The current version of the analysis of a digest, found by manifest digest or by image ID. */
  async getHead(digest: string): Promise<AnalysisHead | undefined> {
    const head = await this.getItem(key.head(this.tenant, digest));
    if (head) return { imageDigest: head.imageDigest as string, version: head.version as string, analyzedAt: head.analyzedAt as string };

    const alias = await this.getItem(key.alias(this.tenant, digest));
    if (!alias) return undefined;
    const target = await this.getItem(key.head(this.tenant, alias.imageDigest as string));
    return target ? { imageDigest: target.imageDigest as string, version: target.version as string, analyzedAt: target.analyzedAt as string } : undefined;
  }

  /**
   * Finds the current version of the analysis of the first digest that has one, reading the
   * HEAD and ALIAS items of every digest in one BatchGet, because ingest calls this for every scan.
   */
  async findHead(digests: string[]): Promise<AnalysisHead | undefined> {
    const unique = [...new Set(digests)];
    if (unique.length === 0) return undefined;

    const keys = unique.flatMap((digest) => [key.head(this.tenant, digest), key.alias(this.tenant, digest)]);
    const response = await this.db.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }));
    const found = new Map((response.Responses?.[this.tableName] ?? []).map((item) => [`${item.PK as string}|${item.SK as string}`, item]));
    const unprocessed = Object.keys(response.UnprocessedKeys ?? {}).length > 0;

    for (const digest of unique) {
      const head = found.get(`${key.partition(this.tenant, digest)}|HEAD`);
      if (head) return { imageDigest: head.imageDigest as string, version: head.version as string, analyzedAt: head.analyzedAt as string };

      const alias = found.get(`${key.partition(this.tenant, digest)}|ALIAS`);
      if (alias || unprocessed) {
        const resolved = await this.getHead(digest);
        if (resolved) return resolved;
      }
    }
    return undefined;
  }

  /** Reads the current analysis of a digest with every package, without file lists. */
  async get(digest: string): Promise<StoredAnalysis | undefined> {
    const head = await this.getHead(digest);
    if (!head) return undefined;
    return this.getVersion(head);
  }

  /** The summary of one version, without its packages; undefined when a replacement already deleted it. */
  async getSummary(head: AnalysisHead): Promise<AnalysisSummary | undefined> {
    const summary = await this.getItem({ PK: key.partition(this.tenant, head.imageDigest), SK: key.summary(head.version) });
    return summary ? stripKeys<AnalysisSummary>(summary) : undefined;
  }

  /** One version of an analysis; undefined when a concurrent replacement already deleted it. */
  async getVersion(head: AnalysisHead): Promise<StoredAnalysis | undefined> {
    const partition = key.partition(this.tenant, head.imageDigest);
    const summary = await this.getItem({ PK: partition, SK: key.summary(head.version) });
    if (!summary) return undefined;

    const packages = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': partition, ':prefix': key.packagePrefix(head.version) },
    });
    return { ...stripKeys<AnalysisSummary>(summary), packages: packages.map((item) => stripKeys<StoredPackage>(item)) };
  }

  /** File lists of one version, for mapping observed files to packages. */
  async getFiles(head: AnalysisHead): Promise<AnalysisFiles> {
    const chunks = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': key.partition(this.tenant, head.imageDigest), ':prefix': key.filesPrefix(head.version) },
    });
    if (chunks.length === 0) return {};

    const bytes = Buffer.concat(chunks.map((item) => Buffer.from(item.data as Uint8Array)));
    return JSON.parse(gunzipSync(bytes).toString('utf8')) as AnalysisFiles;
  }

  /**
   * Lists a page of one version's packages, in stored order.
   * NOTE: a cursor names its version's items, so paging across a replacement of the analysis ends early.
   */
  async listPackages(head: AnalysisHead, page: PageRequest): Promise<Page<StoredPackage>> {
    assertPageSize(page.first);
    return queryPage<StoredPackage>(
      this.db,
      this.tableName,
      {
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
        ExpressionAttributeValues: { ':pk': key.partition(this.tenant, head.imageDigest), ':prefix': key.packagePrefix(head.version) },
      },
      page,
    );
  }

  /**
   * Stores a new version and makes it current. `expectedVersion` is the version the caller
   * read, or null when there was none. When another writer moved HEAD since, the new items are
   * removed again and a ConflictError is thrown, so the caller can read again and retry.
   */
  async put(analysis: StoredAnalysis, files: AnalysisFiles, expectedVersion: string | null): Promise<void> {
    const partition = key.partition(this.tenant, analysis.imageDigest);
    const { packages, ...summary } = analysis;

    const items: Item[] = [
      { PK: partition, SK: key.summary(analysis.version), entity: 'analysis', ...summary },
      ...packages.map((pkg, index) => ({ PK: partition, SK: `${key.packagePrefix(analysis.version)}${String(index).padStart(6, '0')}`, entity: 'analysisPackage', ...pkg })),
      ...this.fileChunks(partition, analysis.version, files),
    ];
    await batchWrite(this.db, this.tableName, items.map((item) => ({ PutRequest: { Item: item } })));

    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key.head(this.tenant, analysis.imageDigest), entity: 'analysisHead', imageDigest: analysis.imageDigest, version: analysis.version, analyzedAt: analysis.analyzedAt },
          ConditionExpression: expectedVersion === null ? 'attribute_not_exists(PK)' : '#version = :expected',
          ...(expectedVersion === null ? {} : { ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':expected': expectedVersion } }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      await this.deleteVersions(partition, (version) => version === analysis.version);
      throw new ConflictError(`The analysis of ${analysis.imageDigest} changed while a new version was being stored; read it again and retry`, { cause: error });
    }

    // The alias lets a report that names only the image ID find the analysis of its manifest.
    if (analysis.imageId && analysis.imageId !== analysis.imageDigest) {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...key.alias(this.tenant, analysis.imageId), entity: 'analysisAlias', imageDigest: analysis.imageDigest } }));
    }

    // Older versions, including ones a failed writer left behind, are no longer reachable through HEAD.
    const current = sequenceOf(analysis.version);
    await this.deleteVersions(partition, (version) => sequenceOf(version) < current);
  }

  /** Appends a runtime observation; each has its own id in the sort key, so none replaces another. */
  async appendObservation(imageDigest: string, observation: Omit<RuntimeObservation, 'id'>): Promise<RuntimeObservation> {
    const stored: RuntimeObservation = { ...observation, id: randomUUID() };
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { PK: key.partition(this.tenant, imageDigest), SK: `${key.observationPrefix}${stored.at}#${stored.id}`, entity: 'runtimeObservation', ...stored },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
    return stored;
  }

  /** Lists every runtime observation of an image, oldest first. */
  async listObservations(imageDigest: string): Promise<RuntimeObservation[]> {
    const items = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': key.partition(this.tenant, imageDigest), ':prefix': key.observationPrefix },
    });
    return items.map((item) => stripKeys<RuntimeObservation>(item));
  }

  private fileChunks(partition: string, version: string, files: AnalysisFiles): Item[] {
    const bytes = gzipSync(Buffer.from(JSON.stringify(files), 'utf8'));
    const chunks: Item[] = [];
    for (let offset = 0, index = 0; offset < bytes.length; offset += FILES_CHUNK_BYTES, index++) {
      chunks.push({ PK: partition, SK: `${key.filesPrefix(version)}${String(index).padStart(4, '0')}`, entity: 'analysisFiles', data: bytes.subarray(offset, offset + FILES_CHUNK_BYTES) });
    }
    return chunks;
  }

  private async deleteVersions(partition: string, matches: (version: string) => boolean): Promise<void> {
    const items = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': partition, ':prefix': 'V#' },
      ProjectionExpression: 'PK, SK',
    });
    const stale = items.filter((item) => matches((item.SK as string).split('#')[1]!));
    await batchWrite(this.db, this.tableName, stale.map((item) => ({ DeleteRequest: { Key: { PK: item.PK, SK: item.SK } } })));
  }

  private async getItem(itemKey: { PK: string; SK: string }): Promise<Item | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: itemKey, ConsistentRead: true }));
    return response.Item;
  }
}
