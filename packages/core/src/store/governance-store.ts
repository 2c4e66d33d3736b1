import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

import { ConflictError, NotFoundError } from '../errors.ts';
import type { SlaRecord } from '../governance/sla.ts';
import type { Violation, ViolationFilter, ViolationState } from '../governance/violation.ts';
import type { Workflow } from '../governance/workflow.ts';
import { batchWrite } from './batch.ts';
import { assertTenant } from './keys.ts';
import { assertPageSize, type Page, type PageRequest } from './paging.ts';
import { queryAll, queryPage, stripKeys } from './query.ts';
import { putWithState } from './state-put.ts';
import { INDEXES } from './table.ts';

type Item = Record<string, unknown>;

const BATCH_GET_SIZE = 100;

/**
 * Keys of the governance items. SLA records are in GSI1 by due date only while a tenant
 * violation can still come of them. Violations are in GSI2 only while they are not closed. So
 * the daily pass reads exactly the items it may have to act on.
 */
const key = {
  workflow: (tenant: string, id: string) => ({ PK: `T#${tenant}#WF#${id}`, SK: 'WORKFLOW' }),
  workflows: (tenant: string) => `T#${tenant}#WFS`,
  sla: (tenant: string, recordKey: string) => ({ PK: `T#${tenant}#SLA#${recordKey}`, SK: 'SLA' }),
  slaDue: (tenant: string) => `T#${tenant}#SLADUE`,
  violation: (tenant: string, id: string) => ({ PK: `T#${tenant}#VIOL#${id}`, SK: 'VIOLATION' }),
  violations: (tenant: string) => `T#${tenant}#VIOLS`,
  openViolations: (tenant: string) => `T#${tenant}#VIOLOPEN`,
  seenBase: (tenant: string, baseKey: string) => ({ PK: `T#${tenant}#BASESEEN#${baseKey}`, SK: 'BASE' }),
  /** Tenants with workflows, for the daily SLA pass. This list is about tenants, so its key has no tenant prefix. */
  tenantsWithWorkflows: () => 'G#WORKFLOW_TENANTS',
};

/** A base image a tenant has seen, recorded so NEW_BASE_IMAGE alerts once per base. */
export interface SeenBaseImage {
  baseKey: string;
  name?: string;
  digest?: string;
  firstImageKey: string;
  repository?: string;
  seenAt: string;
}

/** The tenant's workflows, SLA records, violations and seen base images. One instance serves one tenant. */
export class GovernanceStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly tenant: string,
  ) {
    assertTenant(tenant);
  }

  // ---- workflows --------------------------------------------------------------------------

  async getWorkflow(id: string): Promise<Workflow | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.workflow(this.tenant, id) }));
    return response.Item ? stripKeys<Workflow>(response.Item) : undefined;
  }

  /**
   * Writes a workflow. With `expectedVersion` null it must be new; with a number, the stored
   * workflow must still have that version, so two editors cannot overwrite each other.
   */
  async putWorkflow(workflow: Workflow, expectedVersion: number | null): Promise<void> {
    const item = { ...key.workflow(this.tenant, workflow.id), GSI1PK: key.workflows(this.tenant), GSI1SK: `${workflow.createdAt}#${workflow.id}`, entity: 'workflow', ...workflow };
    const condition =
      expectedVersion === null
        ? { ConditionExpression: 'attribute_not_exists(PK)' }
        : { ConditionExpression: '#version = :expected', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':expected': expectedVersion } };

    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: item, ...condition }));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (expectedVersion === null) throw new ConflictError(`Workflow ${workflow.id} already exists`, { cause: error });
      throw new ConflictError(`Workflow ${workflow.id} is no longer at version ${expectedVersion}; read it again and retry with its current version`, { cause: error });
    }
  }

  /** Deletes a workflow while it still has `expectedVersion`. */
  async deleteWorkflow(id: string, expectedVersion: number): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: key.workflow(this.tenant, id),
          ConditionExpression: 'attribute_exists(PK) AND #version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!(await this.getWorkflow(id))) throw new NotFoundError('Workflow', id);
      throw new ConflictError(`Workflow ${id} is no longer at version ${expectedVersion}; read it again and retry with its current version`, { cause: error });
    }
  }

  /** Lists the tenant's workflows, oldest first. */
  async listWorkflows(page: PageRequest): Promise<Page<Workflow>> {
    assertPageSize(page.first);
    return this.queryPage<Workflow>({ IndexName: INDEXES.byRepositoryOrOrigin, KeyConditionExpression: 'GSI1PK = :pk', ExpressionAttributeValues: { ':pk': key.workflows(this.tenant) } }, page);
  }

  async allWorkflows(): Promise<Workflow[]> {
    const items = await queryAll(this.db, this.tableName, { IndexName: INDEXES.byRepositoryOrOrigin, KeyConditionExpression: 'GSI1PK = :pk', ExpressionAttributeValues: { ':pk': key.workflows(this.tenant) } });
    return items.map((item) => stripKeys<Workflow>(item));
  }

  /** Records that this tenant has workflows, so the daily SLA pass visits it. */
  async registerTenant(): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { PK: key.tenantsWithWorkflows(), SK: this.tenant, entity: 'tenant', tenant: this.tenant } }));
  }

  /** Tenants that have created workflows. */
  static async tenantsWithWorkflows(db: DynamoDBDocumentClient, tableName: string): Promise<string[]> {
    const items = await queryAll(db, tableName, { KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': key.tenantsWithWorkflows() } });
    return items.map((item) => item.tenant as string);
  }

  // ---- SLA records ------------------------------------------------------------------------

  async getSlaRecord(recordKey: string): Promise<SlaRecord | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.sla(this.tenant, recordKey) }));
    return response.Item ? stripKeys<SlaRecord>(response.Item) : undefined;
  }

  async getSlaRecords(recordKeys: string[]): Promise<Map<string, SlaRecord>> {
    const unique = [...new Set(recordKeys)];
    const found = new Map<string, SlaRecord>();

    for (let start = 0; start < unique.length; start += BATCH_GET_SIZE) {
      let request: Record<string, { Keys: Item[] }> | undefined = {
        [this.tableName]: { Keys: unique.slice(start, start + BATCH_GET_SIZE).map((recordKey) => key.sla(this.tenant, recordKey)) },
      };
      while (request && Object.keys(request).length > 0) {
        const response = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of response.Responses?.[this.tableName] ?? []) {
          const record = stripKeys<SlaRecord>(item);
          found.set(record.key, record);
        }
        request = response.UnprocessedKeys as typeof request;
      }
    }

    return found;
  }

  private slaItem(record: SlaRecord): Item {
    // Only records that can still become a tenant violation are listed by due date.
    const due = record.state === 'ACTIVE' && record.tracking === 'TENANT' ? { GSI1PK: key.slaDue(this.tenant), GSI1SK: `${record.dueDate}#${record.key}` } : {};
    return { ...key.sla(this.tenant, record.key), ...due, entity: 'sla', ...record };
  }

  /** Writes records; rewriting a record with the same content changes nothing, so retries are safe. */
  async putSlaRecords(records: SlaRecord[]): Promise<void> {
    await batchWrite(this.db, this.tableName, records.map((record) => ({ PutRequest: { Item: this.slaItem(record) } })));
  }

  /** Replaces a record while its first-seen time is still `expectedFirstSeenAt`; false otherwise. */
  async replaceSlaRecord(record: SlaRecord, expectedFirstSeenAt: string): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.slaItem(record),
          ConditionExpression: '#firstSeenAt = :expected',
          ExpressionAttributeNames: { '#firstSeenAt': 'firstSeenAt' },
          ExpressionAttributeValues: { ':expected': expectedFirstSeenAt },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Active tenant-tracked records due at or before `nowIso`, earliest first. */
  async dueSlaRecords(nowIso: string): Promise<SlaRecord[]> {
    const items = await queryAll(this.db, this.tableName, {
      IndexName: INDEXES.byRepositoryOrOrigin,
      KeyConditionExpression: 'GSI1PK = :pk AND GSI1SK <= :now',
      ExpressionAttributeValues: { ':pk': key.slaDue(this.tenant), ':now': `${nowIso}#\uffff` },
    });
    return items.map((item) => stripKeys<SlaRecord>(item));
  }

  // ---- violations -------------------------------------------------------------------------

  private violationItem(violation: Violation): Item {
    const open = violation.state === 'CLOSED' ? {} : { GSI2PK: key.openViolations(this.tenant), GSI2SK: `${violation.openedAt}#${violation.id}` };
    return { ...key.violation(this.tenant, violation.id), GSI1PK: key.violations(this.tenant), GSI1SK: `${violation.openedAt}#${violation.id}`, ...open, entity: 'violation', ...violation };
  }

  async getViolation(id: string): Promise<Violation | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.violation(this.tenant, id) }));
    return response.Item ? stripKeys<Violation>(response.Item) : undefined;
  }

  /** Writes a new violation; false when it exists already (a second run of the same day). */
  async createViolation(violation: Violation): Promise<boolean> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: this.violationItem(violation), ConditionExpression: 'attribute_not_exists(PK)' }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Replaces a violation while it is still in `expectedState`; a lost race is a ConflictError. */
  async putViolation(violation: Violation, expectedState: ViolationState): Promise<void> {
    await putWithState(this.db, this.tableName, this.violationItem(violation), expectedState, `Violation ${violation.id} changed while it was being updated; the next run picks it up again`);
  }

  /** Violations that are OPEN or ESCALATED, oldest first. */
  async openViolations(): Promise<Violation[]> {
    const items = await queryAll(this.db, this.tableName, { IndexName: INDEXES.byVulnerability, KeyConditionExpression: 'GSI2PK = :pk', ExpressionAttributeValues: { ':pk': key.openViolations(this.tenant) } });
    return items.map((item) => stripKeys<Violation>(item));
  }

  /** Violations, newest first, filtered by state, severity, repository and workflow. */
  async listViolations(filter: ViolationFilter, page: PageRequest): Promise<Page<Violation>> {
    assertPageSize(page.first);
    const names: Record<string, string> = {};
    const values: Item = { ':pk': key.violations(this.tenant) };
    const conditions: string[] = [];

    const inList = (attribute: string, prefix: string, list: readonly string[]) => {
      names[`#${attribute}`] = attribute;
      const placeholders = [...new Set(list)].map((value, index) => {
        values[`:${prefix}${index}`] = value;
        return `:${prefix}${index}`;
      });
      conditions.push(`#${attribute} IN (${placeholders.join(', ')})`);
    };

    if (filter.states?.length) inList('state', 'state', filter.states);
    if (filter.severities?.length) inList('severity', 'severity', filter.severities);
    if (filter.repository !== undefined) inList('repository', 'repository', [filter.repository]);
    if (filter.ruleId !== undefined) inList('workflowId', 'rule', [filter.ruleId]);

    return this.queryPage<Violation>(
      {
        IndexName: INDEXES.byRepositoryOrOrigin,
        KeyConditionExpression: 'GSI1PK = :pk',
        ExpressionAttributeValues: values,
        ...(conditions.length > 0 ? { FilterExpression: conditions.join(' AND '), ExpressionAttributeNames: names } : {}),
        ScanIndexForward: false,
      },
      page,
    );
  }

  // ---- seen base images -------------------------------------------------------------------

  async getSeenBase(baseKey: string): Promise<SeenBaseImage | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.seenBase(this.tenant, baseKey) }));
    return response.Item ? stripKeys<SeenBaseImage>(response.Item) : undefined;
  }

  /** Records a base image as seen; the first writer's record stays. */
  async markBaseSeen(seen: SeenBaseImage): Promise<void> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...key.seenBase(this.tenant, seen.baseKey), entity: 'seenBase', ...seen }, ConditionExpression: 'attribute_not_exists(PK)' }));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private queryPage<T>(input: Omit<QueryCommandInput, 'TableName'>, page: PageRequest): Promise<Page<T>> {
    return queryPage<T>(this.db, this.tableName, input, page);
  }
}
