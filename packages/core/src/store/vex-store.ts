import { GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import type { FindingVex, StoredStatement, VexSource } from '../vex/matcher.ts';
import type { VexFormat } from '../vex/model.ts';
import { batchWrite, type WriteRequest } from './batch.ts';
import { assertTenant } from './keys.ts';
import { assertPageSize, type Page, type PageRequest } from './paging.ts';
import { queryAll, queryPage } from './query.ts';
import { putWithState } from './state-put.ts';
import { INDEXES } from './table.ts';

export const VEX_DOCUMENT_STATES = ['IMPORTING', 'ACTIVE', 'REVOKED'] as const;
export type VexDocumentState = (typeof VEX_DOCUMENT_STATES)[number];

/** A stored VEX document's metadata; its statements are separate items. */
export interface VexDocumentRecord {
  /** Stratum's key for the document: a digest of its normalized content. */
  key: string;
  documentId: string;
  format: VexFormat;
  author?: string;
  timestamp?: string;
  version?: string;
  source: VexSource;
  state: VexDocumentState;
  statementCount: number;
  importedAt: string;
  importedBy: string;
  revokedAt?: string;
  revokedBy?: string;
  revokeReason?: string;
  /** When a revoked document was imported again; its last revocation stays on record. */
  reimportedAt?: string;
}

/** One change of a finding's VEX decision, kept append-only. */
export interface VexHistoryEntry {
  at: string;
  imageKey: string;
  findingId: string;
  action: 'APPLIED' | 'CHANGED' | 'REMOVED';
  cause: 'INGEST' | 'IMPORT' | 'REVOKE' | 'REATTRIBUTION';
  before?: FindingVex;
  after?: FindingVex;
  documentKey?: string;
}

type Item = Record<string, unknown>;

const key = {
  document: (tenant: string, documentKey: string) => ({ PK: `T#${tenant}#VEX#${documentKey}`, SK: 'DOC' }),
  documents: (tenant: string) => `T#${tenant}#VEXDOCS`,
  statements: (tenant: string) => `T#${tenant}#VEXSTMTS`,
  history: (tenant: string, imageKey: string, findingId: string) => `T#${tenant}#FHIST#${imageKey}#${findingId}`,
};

function strip<T>(item: Item): T {
  const { PK, SK, GSI1PK, GSI1SK, entity, ...rest } = item;
  return rest as T;
}

/**
 * The VEX part of the table. Statements of all active documents of a tenant share one
 * partition, so evaluation loads them with one paged Query.
 */
export class VexStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly tenant: string,
  ) {
    assertTenant(tenant);
  }

  async getDocument(documentKey: string): Promise<VexDocumentRecord | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.document(this.tenant, documentKey) }));
    return response.Item ? strip<VexDocumentRecord>(response.Item) : undefined;
  }

  /** Writes a document's metadata. With `expectedState` the write succeeds only from that state. */
  async putDocument(record: VexDocumentRecord, expectedState?: VexDocumentState | null): Promise<void> {
    const item = { ...key.document(this.tenant, record.key), GSI1PK: key.documents(this.tenant), GSI1SK: `${record.importedAt}#${record.key}`, entity: 'vexDocument', ...record };
    await putWithState(this.db, this.tableName, item, expectedState, `VEX document ${record.key} changed state while it was being updated; read it again and retry`);
  }

  /** VEX documents of the tenant, most recently imported first. */
  async listDocuments(page: PageRequest): Promise<Page<VexDocumentRecord>> {
    assertPageSize(page.first);
    return queryPage<VexDocumentRecord>(
      this.db,
      this.tableName,
      { IndexName: INDEXES.byRepositoryOrOrigin, KeyConditionExpression: 'GSI1PK = :pk', ExpressionAttributeValues: { ':pk': key.documents(this.tenant) }, ScanIndexForward: false },
      page,
    );
  }

  async putStatements(statements: StoredStatement[]): Promise<void> {
    const items = statements.map((statement) => ({
      PK: key.statements(this.tenant),
      SK: `${statement.documentKey}#${String(statement.index).padStart(6, '0')}`,
      entity: 'vexStatement',
      ...statement,
    }));
    await this.batchWrite(items.map((item) => ({ PutRequest: { Item: item } })));
  }

  async deleteStatements(documentKey: string): Promise<number> {
    const keys = (await this.queryStatements(documentKey, 'PK, SK')).map((item) => ({ PK: item.PK, SK: item.SK }));
    await this.batchWrite(keys.map((itemKey) => ({ DeleteRequest: { Key: itemKey } })));
    return keys.length;
  }

  /** Loads every statement of the tenant's active documents. */
  async activeStatements(): Promise<StoredStatement[]> {
    const documents = await queryAll(this.db, this.tableName, {
      IndexName: INDEXES.byRepositoryOrOrigin,
      KeyConditionExpression: 'GSI1PK = :pk',
      ExpressionAttributeValues: { ':pk': key.documents(this.tenant) },
    });
    const active = new Set(documents.filter((item) => item.state === 'ACTIVE').map((item) => item.key as string));
    if (active.size === 0) return [];

    // Statements of a document still importing or already revoked are skipped, so a half-finished import or revocation never applies.
    return (await this.queryStatements(undefined)).map((item) => strip<StoredStatement>(item)).filter((statement) => active.has(statement.documentKey));
  }

  private queryStatements(documentKey: string | undefined, projection?: string): Promise<Item[]> {
    return queryAll(this.db, this.tableName, {
      KeyConditionExpression: documentKey ? 'PK = :pk AND begins_with(SK, :prefix)' : 'PK = :pk',
      ExpressionAttributeValues: documentKey ? { ':pk': key.statements(this.tenant), ':prefix': `${documentKey}#` } : { ':pk': key.statements(this.tenant) },
      ProjectionExpression: projection,
    });
  }

  /** Appends history entries. The sort key makes a repeated write of the same change a no-op. */
  async appendHistory(entries: VexHistoryEntry[]): Promise<void> {
    const items = entries.map((entry) => ({
      PK: key.history(this.tenant, entry.imageKey, entry.findingId),
      SK: `${entry.at}#${entry.cause}#${entry.after?.documentKey ?? entry.before?.documentKey ?? ''}`,
      entity: 'vexHistory',
      ...entry,
    }));
    await this.batchWrite(items.map((item) => ({ PutRequest: { Item: item } })));
  }

  async history(imageKey: string, findingId: string): Promise<VexHistoryEntry[]> {
    const response = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': key.history(this.tenant, imageKey, findingId) },
        Limit: 200,
      }),
    );
    return (response.Items ?? []).map((item) => strip<VexHistoryEntry>(item));
  }

  private batchWrite(requests: WriteRequest[]): Promise<void> {
    return batchWrite(this.db, this.tableName, requests);
  }
}
