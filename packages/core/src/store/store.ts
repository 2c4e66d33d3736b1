import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

import { ConflictError } from '../errors.ts';
import type { Finding, LayerOrigin, ReachabilityStatus } from '../finding.ts';
import type { BaseCandidate } from '../image/attribution.ts';
import type { Image } from '../image/model.ts';
import { SEVERITIES, severityRank, type Severity } from '../severity.ts';
import type { VexStatus } from '../vex/model.ts';
import { batchWrite, type WriteRequest } from './batch.ts';
import { keys, assertTenant } from './keys.ts';
import { assertPageSize, type Page, type PageRequest } from './paging.ts';
import { queryAll, queryPage, stripKeys } from './query.ts';
import { INDEXES } from './table.ts';
import { AnalysisStore } from './analysis-store.ts';
import { GovernanceStore } from './governance-store.ts';
import { AlertStore } from './alert-store.ts';
import { TriageStore } from './triage-store.ts';
import { VexStore } from './vex-store.ts';

const BATCH_GET_SIZE = 100;

export interface FindingFilter {
  origin?: LayerOrigin;
  severities?: Severity[];
  vulnerabilityId?: string;
  packageName?: string;
  /** VEX statuses to keep; NONE keeps findings that no statement decides. */
  vexStatuses?: Array<VexStatus | 'NONE'>;
  /** OPEN: neither suppressed nor fixed; SUPPRESSED: under an unexpired suppression; FIXED: VEX states fixed. */
  states?: FindingState[];
  /** Keeps only findings that are (true) or are not (false) actionable; see isActionable. */
  actionable?: boolean;
  /** Reachability statuses to keep; UNKNOWN also keeps findings that no analysis has reached. */
  reachability?: ReachabilityStatus[];
  /** The time against which suppression expiry is checked; required with states or actionable. */
  now?: string;
}

export const FINDING_STATES = ['OPEN', 'SUPPRESSED', 'FIXED'] as const;
export type FindingState = (typeof FINDING_STATES)[number];

/**
 * DynamoDB filter expressions for the triage states. They mirror isSuppressed and isActionable
 * in triage/risk.ts; a test checks the two agree on the same findings.
 */
const SUPPRESSED = '(attribute_exists(#suppression) AND (attribute_not_exists(#suppression.#expiresAt) OR #suppression.#expiresAt > :now))';
const VEX_CLOSED = '(#vex.#vexStatus IN (:vexNotAffected, :vexFixed))';
const UNREACHABLE = '(#reachability.#reachabilityStatus = :unreachable AND size(#reachability.#evidence) > :zero)';
const STATE_EXPRESSIONS: Record<FindingState, string> = {
  SUPPRESSED,
  FIXED: '(#vex.#vexStatus = :vexFixed)',
  OPEN: `(NOT ${SUPPRESSED} AND (attribute_not_exists(#vex) OR #vex.#vexStatus <> :vexFixed))`,
};

/** One occurrence of a vulnerability: the finding and the image it is in. */
export interface Occurrence {
  finding: Finding;
  image: Image;
}

type Item = Record<string, unknown>;
type QueryInput = Omit<QueryCommandInput, 'TableName'>;

/** The table's repository: the only code that depends on the key design. One instance serves one tenant. */
export class TenantStore {
  /** The tenant's VEX documents, statements and finding history. */
  readonly vex: VexStore;
  /** The tenant's suppression rules, risk policy and audit trail. */
  readonly triage: TriageStore;
  /** The tenant's workflows, SLA records, violations and seen base images. */
  readonly governance: GovernanceStore;
  /** The tenant's image content analyses and runtime observations. */
  readonly analysis: AnalysisStore;
  /** The tenant's alert channels, alerts and their deliveries. */
  readonly alerts: AlertStore;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly tenant: string,
  ) {
    assertTenant(tenant);
    this.vex = new VexStore(db, tableName, tenant);
    this.triage = new TriageStore(db, tableName, tenant);
    this.governance = new GovernanceStore(db, tableName, tenant);
    this.analysis = new AnalysisStore(db, tableName, tenant);
    this.alerts = new AlertStore(db, tableName, tenant);
  }

  // ---- images ----------------------------------------------------------------------------

  /**
   * Gets an image by any digest it is known by (manifest digest or image ID). One BatchGet
   * reads both the image item and the alias item, so the common case costs one request.
   */
  async getImage(digest: string): Promise<Image | undefined> {
    const imageKey = keys.image(this.tenant, digest);
    const refKey = keys.ref(this.tenant, digest);
    const response = await this.db.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: [imageKey, refKey] } } }));
    const items = response.Responses?.[this.tableName] ?? [];

    const image = items.find((item) => item.SK === 'IMAGE');
    if (image) return stripKeys<Image>(image);

    const ref = items.find((item) => item.SK === 'REF');
    if (!ref) return undefined;
    return this.getImageByKey(ref.imageKey as string);
  }

  async getImageByKey(imageKey: string): Promise<Image | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: keys.image(this.tenant, imageKey) }));
    return response.Item ? stripKeys<Image>(response.Item) : undefined;
  }

  async getImagesByKey(imageKeys: string[]): Promise<Map<string, Image>> {
    const unique = [...new Set(imageKeys)];
    const found = new Map<string, Image>();

    for (let start = 0; start < unique.length; start += BATCH_GET_SIZE) {
      let request: Record<string, { Keys: Item[] }> | undefined = {
        [this.tableName]: { Keys: unique.slice(start, start + BATCH_GET_SIZE).map((imageKey) => keys.image(this.tenant, imageKey)) },
      };
      while (request && Object.keys(request).length > 0) {
        const response = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of response.Responses?.[this.tableName] ?? []) {
          const image = stripKeys<Image>(item);
          found.set(image.key, image);
        }
        request = response.UnprocessedKeys as typeof request;
      }
    }

    return found;
  }

  /**
   * Writes an image. With `expectedScanId` the write succeeds only while the stored image still
   * points at that scan (undefined: no scan yet), so two ingests of one image cannot both win.
   */
  async putImage(image: Image, options: { expectedScanId?: string | null } = {}): Promise<void> {
    const repositoryKeys = image.repository
      ? { GSI1PK: keys.repository(this.tenant, image.repository), GSI1SK: `${image.pushedAt ?? image.createdAt}#${image.key}` }
      : {};
    const condition = this.scanCondition(options.expectedScanId);

    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...keys.image(this.tenant, image.key), ...repositoryKeys, entity: 'image', ...image },
          ...condition,
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(`Image ${image.key} changed while it was being updated; retry the request`, { cause: error });
      }
      throw error;
    }
  }

  private scanCondition(expectedScanId: string | null | undefined): Partial<{ ConditionExpression: string; ExpressionAttributeValues: Item; ExpressionAttributeNames: Record<string, string> }> {
    if (expectedScanId === undefined) return {};
    if (expectedScanId === null) return { ConditionExpression: 'attribute_not_exists(#scan)', ExpressionAttributeNames: { '#scan': 'scan' } };
    return {
      ConditionExpression: '#scan.#id = :scanId',
      ExpressionAttributeNames: { '#scan': 'scan', '#id': 'id' },
      ExpressionAttributeValues: { ':scanId': expectedScanId },
    };
  }

  /** Records that each digest names the image with this key. */
  async putAliases(imageKey: string, digests: string[]): Promise<void> {
    const items = digests.filter((digest) => digest !== imageKey).map((digest) => ({ ...keys.ref(this.tenant, digest), entity: 'ref', imageKey }));
    await this.batchPut(items);
  }

  /** Images of a repository, newest push first. */
  async listImages(repository: string, page: PageRequest): Promise<Page<Image>> {
    assertPageSize(page.first);
    const index = INDEXES.byRepositoryOrOrigin;

    return this.queryPage<Image>(
      {
        IndexName: index,
        KeyConditionExpression: 'GSI1PK = :pk',
        ExpressionAttributeValues: { ':pk': keys.repository(this.tenant, repository) },
        ScanIndexForward: false,
      },
      index,
      page,
    );
  }

  /** Records that the tenant has images in this repository; rewriting it changes nothing, so ingest retries are safe. */
  async registerRepository(repository: string): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { PK: keys.repositories(this.tenant), SK: repository, entity: 'repository', repository } }));
  }

  /** Lists the tenant's repositories in name order, as recorded at ingest. */
  async listRepositories(page: PageRequest): Promise<Page<string>> {
    assertPageSize(page.first);
    const found = await this.queryPage<{ repository: string }>({ KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': keys.repositories(this.tenant) } }, undefined, page);
    return { ...found, items: found.items.map(({ node, cursor }) => ({ node: node.repository, cursor })) };
  }

  // ---- layer chains, for base image detection -------------------------------------------

  /**
   * Indexes an image's layer chain: one item per depth, so images built on a newly stored base
   * can be found, and one "top" item for its full chain, so it can be found as a base itself.
   */
  async putChain(image: Image, chain: string[], candidate: BaseCandidate): Promise<void> {
    if (chain.length === 0) return;

    const depthItems = chain.map((chainId, depth) => ({ ...keys.chain(this.tenant, chainId, image.key), entity: 'chain', imageKey: image.key, depth: depth + 1, total: chain.length }));
    await this.batchPut(depthItems);

    // A hardened catalog's image replaces another image with the same layers; otherwise the first one stays.
    const top = { ...keys.chainTop(this.tenant, chain.at(-1)!), entity: 'chainTop', ...candidate };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: top,
          ConditionExpression: candidate.hardened ? 'attribute_not_exists(PK) OR hardened = :false' : 'attribute_not_exists(PK) OR imageKey = :key',
          ExpressionAttributeValues: candidate.hardened ? { ':false': false } : { ':key': image.key },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /**
   * Finds the stored image whose full layer chain is the longest proper prefix of `chain`.
   * Reads one "top" item per depth in BatchGet calls of 100.
   */
  async findLongestPrefix(chain: string[], exceptKey: string): Promise<BaseCandidate | undefined> {
    const prefixes = chain.slice(0, -1);
    const found = new Map<string, BaseCandidate>();

    for (let start = 0; start < prefixes.length; start += BATCH_GET_SIZE) {
      let request: Record<string, { Keys: Item[] }> | undefined = {
        [this.tableName]: { Keys: prefixes.slice(start, start + BATCH_GET_SIZE).map((chainId) => keys.chainTop(this.tenant, chainId)) },
      };
      while (request && Object.keys(request).length > 0) {
        const response = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of response.Responses?.[this.tableName] ?? []) {
          const chainId = (item.PK as string).split('#TOP#')[1]!;
          found.set(chainId, stripKeys<BaseCandidate & { imageKey?: string }>(item));
        }
        request = response.UnprocessedKeys as typeof request;
      }
    }

    for (let depth = prefixes.length; depth >= 1; depth--) {
      const candidate = found.get(prefixes[depth - 1]!);
      if (candidate && candidate.key !== exceptKey) return candidate;
    }
    return undefined;
  }

  /** Keys of stored images whose chain contains `chainId` at `depth` and goes on beyond it. */
  async imagesBuiltOn(chainId: string, depth: number): Promise<string[]> {
    const items = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk',
      FilterExpression: '#depth = :depth AND #total > :depth',
      ExpressionAttributeNames: { '#depth': 'depth', '#total': 'total' },
      ExpressionAttributeValues: { ':pk': keys.chainPartition(this.tenant, chainId), ':depth': depth },
    });
    return items.map((item) => item.imageKey as string);
  }

  // ---- findings --------------------------------------------------------------------------

  /**
   * Writes findings; rewriting the same finding in the same scan replaces it, so retries are
   * safe. Each alias gets a copy of the finding under the alias's vulnerability key, so that a
   * search for CVE-X also finds a finding the scanner reported as GHSA-Y with CVE-X as alias.
   */
  async putFindings(findings: Finding[]): Promise<void> {
    await this.batchPut(findings.flatMap((finding) => [this.findingItem(finding), ...this.aliasItems(finding)]));
  }

  private aliasItems(finding: Finding): Item[] {
    const primary = finding.vulnerabilityId.toUpperCase();
    const aliases = [...new Set(finding.aliases.map((alias) => alias.toUpperCase()))].filter((alias) => alias !== primary);

    return aliases.map((alias) => ({
      PK: keys.scan(this.tenant, finding.scanId),
      SK: `A#${alias}#${finding.id}`,
      GSI2PK: keys.vulnerability(this.tenant, alias),
      GSI2SK: `${finding.imageKey}#${finding.id}`,
      entity: 'findingAlias',
      ...finding,
    }));
  }

  private findingItem(finding: Finding): Item {
    const rank = severityRank(finding.severity);
    const { PK, SK } = keys.finding(this.tenant, finding.scanId, rank, finding.id);

    // Keys written out and one spread of the finding: nested spreads cost a fifth of an ingest's CPU time.
    return {
      PK,
      SK,
      GSI1PK: keys.findingsByOrigin(this.tenant, finding.scanId, finding.origin),
      GSI1SK: `${rank}#${finding.id}`,
      GSI2PK: keys.vulnerability(this.tenant, finding.vulnerabilityId),
      GSI2SK: `${finding.imageKey}#${finding.id}`,
      GSI3PK: keys.package(this.tenant, finding.package.name),
      GSI3SK: `${finding.imageKey}#${rank}#${finding.id}`,
      entity: 'finding',
      ...finding,
    };
  }

  /** Deletes every finding of a scan that is no longer current, alias copies included. */
  async deleteScan(scanId: string): Promise<number> {
    const items = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk',
      ExpressionAttributeValues: { ':pk': keys.scan(this.tenant, scanId) },
      ProjectionExpression: 'PK, SK',
    });
    await this.batchWrite(items.map((item) => ({ DeleteRequest: { Key: { PK: item.PK, SK: item.SK } } })));
    return items.length;
  }

  /**
   * Reads every finding of a scan, in severity order. Its cost grows with the scan, so request
   * paths use it only where the whole scan is the answer: the VEX export and suppression previews.
   */
  async allFindings(scanId: string): Promise<Finding[]> {
    const items = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :findings)',
      ExpressionAttributeValues: { ':pk': keys.scan(this.tenant, scanId), ':findings': 'F#' },
    });
    return items.map((item) => stripKeys<Finding>(item));
  }

  /**
   * Lists an image's current findings, most severe first, with the most selective index for the
   * filter: vulnerability id, then package name, then origin, then the scan's own partition.
   */
  async listFindings(image: Image, filter: FindingFilter, page: PageRequest): Promise<Page<Finding>> {
    assertPageSize(page.first);
    const scanId = image.scan?.id;
    if (!scanId) return { items: [], hasNextPage: false };

    const severities = filter.severities && filter.severities.length > 0 ? [...new Set(filter.severities)] : undefined;
    const singleRank = severities?.length === 1 ? severityRank(severities[0]!) : undefined;
    const values: Item = {};
    const names: Record<string, string> = {};
    const conditions: string[] = [];
    let input: QueryInput;
    let index: string | undefined;

    if (filter.vulnerabilityId) {
      index = INDEXES.byVulnerability;
      input = { IndexName: index, KeyConditionExpression: 'GSI2PK = :pk AND begins_with(GSI2SK, :prefix)' };
      Object.assign(values, { ':pk': keys.vulnerability(this.tenant, filter.vulnerabilityId), ':prefix': `${image.key}#` });
    } else if (filter.packageName) {
      index = INDEXES.byPackage;
      input = { IndexName: index, KeyConditionExpression: 'GSI3PK = :pk AND begins_with(GSI3SK, :prefix)' };
      Object.assign(values, { ':pk': keys.package(this.tenant, filter.packageName), ':prefix': `${image.key}#${singleRank ?? ''}` });
    } else if (filter.origin) {
      index = INDEXES.byRepositoryOrOrigin;
      input = { IndexName: index, KeyConditionExpression: singleRank === undefined ? 'GSI1PK = :pk' : 'GSI1PK = :pk AND begins_with(GSI1SK, :prefix)' };
      Object.assign(values, { ':pk': keys.findingsByOrigin(this.tenant, scanId, filter.origin) });
      if (singleRank !== undefined) values[':prefix'] = `${singleRank}#`;
    } else {
      input = { KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)' };
      Object.assign(values, { ':pk': keys.scan(this.tenant, scanId), ':prefix': `F#${singleRank ?? ''}` });
    }

    // Index entries of other scans of the same image stay until cleanup, so the scan id is checked.
    if (index === INDEXES.byVulnerability || index === INDEXES.byPackage) {
      conditions.push('scanId = :scanId');
      values[':scanId'] = scanId;
    }
    if (filter.origin && index !== INDEXES.byRepositoryOrOrigin) {
      conditions.push('origin = :origin');
      values[':origin'] = filter.origin;
    }
    if (filter.packageName && index !== INDEXES.byPackage) {
      names['#package'] = 'package';
      names['#name'] = 'name';
      conditions.push('#package.#name = :packageName');
      values[':packageName'] = filter.packageName;
    }
    if (severities && (singleRank === undefined || index === INDEXES.byVulnerability)) {
      names['#severity'] = 'severity';
      const placeholders = severities.map((severity, i) => {
        values[`:severity${i}`] = severity;
        return `:severity${i}`;
      });
      conditions.push(`#severity IN (${placeholders.join(', ')})`);
    }

    if (filter.vexStatuses && filter.vexStatuses.length > 0) {
      names['#vex'] = 'vex';
      const statuses = [...new Set(filter.vexStatuses)];
      const parts: string[] = [];
      const decided = statuses.filter((status) => status !== 'NONE');
      if (decided.length > 0) {
        // DynamoDB rejects a name placeholder that no expression uses, so it is added only here.
        names['#vexStatus'] = 'status';
        const placeholders = decided.map((status, i) => {
          values[`:vex${i}`] = status;
          return `:vex${i}`;
        });
        parts.push(`#vex.#vexStatus IN (${placeholders.join(', ')})`);
      }
      if (statuses.includes('NONE')) parts.push('attribute_not_exists(#vex)');
      conditions.push(`(${parts.join(' OR ')})`);
    }

    if (filter.reachability && filter.reachability.length > 0) {
      const statuses = [...new Set(filter.reachability)];
      Object.assign(names, { '#reachability': 'reachability', '#reachabilityStatus': 'status' });
      const placeholders = statuses.map((status, i) => {
        values[`:reachability${i}`] = status;
        return `:reachability${i}`;
      });
      const parts = [`#reachability.#reachabilityStatus IN (${placeholders.join(', ')})`];
      if (statuses.includes('UNKNOWN')) parts.push('attribute_not_exists(#reachability)');
      conditions.push(`(${parts.join(' OR ')})`);
    }

    if (filter.states?.length || filter.actionable !== undefined) {
      Object.assign(names, {
        '#suppression': 'suppression',
        '#expiresAt': 'expiresAt',
        '#vex': 'vex',
        '#vexStatus': 'status',
        '#reachability': 'reachability',
        '#reachabilityStatus': 'status',
        '#evidence': 'evidence',
      });
      Object.assign(values, { ':now': filter.now ?? new Date().toISOString(), ':vexNotAffected': 'NOT_AFFECTED', ':vexFixed': 'FIXED', ':unreachable': 'UNREACHABLE', ':zero': 0 });

      const used: string[] = [];
      if (filter.states?.length) {
        // Each state expression carries its own parentheses, and DynamoDB rejects redundant ones.
        const parts = [...new Set(filter.states)].map((state) => STATE_EXPRESSIONS[state]);
        used.push(parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`);
      }
      if (filter.actionable !== undefined) {
        const closed = `(${SUPPRESSED} OR ${VEX_CLOSED} OR ${UNREACHABLE})`;
        used.push(filter.actionable ? `NOT ${closed}` : closed);
      }
      conditions.push(...used);

      // DynamoDB rejects names and values that no expression uses, so unused ones are dropped.
      const expression = conditions.join(' ');
      for (const name of Object.keys(names)) if (!expression.includes(name) && !(input.KeyConditionExpression ?? '').includes(name)) delete names[name];
      for (const value of Object.keys(values)) if (!expression.includes(value) && !(input.KeyConditionExpression ?? '').includes(value)) delete values[value];
    }

    return this.queryPage<Finding>(
      {
        ...input,
        ExpressionAttributeValues: values,
        ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
        ...(conditions.length > 0 ? { FilterExpression: conditions.join(' AND ') } : {}),
      },
      index,
      page,
    );
  }

  /**
   * Lists every current occurrence of a vulnerability in the tenant's images. Index entries of
   * scans that were replaced are skipped by comparing them with each image's current scan.
   */
  async listOccurrences(vulnerabilityId: string, page: PageRequest): Promise<Page<Occurrence>> {
    assertPageSize(page.first);
    const index = INDEXES.byVulnerability;
    const found = await this.queryPage<Finding>(
      { IndexName: index, KeyConditionExpression: 'GSI2PK = :pk', ExpressionAttributeValues: { ':pk': keys.vulnerability(this.tenant, vulnerabilityId) } },
      index,
      page,
    );

    const images = await this.getImagesByKey(found.items.map(({ node }) => node.imageKey));
    const items = found.items.flatMap(({ node, cursor }) => {
      const image = images.get(node.imageKey);
      return image && image.scan?.id === node.scanId ? [{ node: { finding: node, image }, cursor }] : [];
    });

    return { items, hasNextPage: found.hasNextPage, endCursor: found.endCursor };
  }

  /** Lists current findings of a package across the tenant's images. */
  async listFindingsByPackage(packageName: string, page: PageRequest): Promise<Page<Occurrence>> {
    assertPageSize(page.first);
    const index = INDEXES.byPackage;
    const found = await this.queryPage<Finding>(
      { IndexName: index, KeyConditionExpression: 'GSI3PK = :pk', ExpressionAttributeValues: { ':pk': keys.package(this.tenant, packageName) } },
      index,
      page,
    );

    const images = await this.getImagesByKey(found.items.map(({ node }) => node.imageKey));
    const items = found.items.flatMap(({ node, cursor }) => {
      const image = images.get(node.imageKey);
      return image && image.scan?.id === node.scanId ? [{ node: { finding: node, image }, cursor }] : [];
    });

    return { items, hasNextPage: found.hasNextPage, endCursor: found.endCursor };
  }

  // ---- helpers ---------------------------------------------------------------------------

  private queryPage<T>(input: QueryInput, _index: string | undefined, page: PageRequest): Promise<Page<T>> {
    return queryPage<T>(this.db, this.tableName, input, page);
  }

  private async batchPut(items: Item[]): Promise<void> {
    await this.batchWrite(items.map((item) => ({ PutRequest: { Item: item } })));
  }

  private batchWrite(requests: WriteRequest[]): Promise<void> {
    return batchWrite(this.db, this.tableName, requests);
  }

  /** Deletes one alias item; used when a digest turns out to name another image. */
  async deleteAlias(digest: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: keys.ref(this.tenant, digest) }));
  }
}

export class Store {
  constructor(
    readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  forTenant(tenant: string): TenantStore {
    return new TenantStore(this.db, this.tableName, tenant);
  }
}

export { SEVERITIES };
