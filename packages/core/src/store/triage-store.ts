import { randomUUID } from 'node:crypto';

import { GetCommand, PutCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

import { ConflictError } from '../errors.ts';
import type { AuditRecord } from '../triage/audit.ts';
import { DEFAULT_RISK_POLICY, type RiskPolicy } from '../triage/policy.ts';
import type { SuppressionAuditReport } from '../triage/quarterly-audit.ts';
import type { SuppressionRule, SuppressionState } from '../triage/suppression.ts';
import { batchWrite } from './batch.ts';
import { assertTenant } from './keys.ts';
import { assertPageSize, type Page, type PageRequest } from './paging.ts';
import { queryPage } from './query.ts';
import { putWithState } from './state-put.ts';
import { INDEXES } from './table.ts';

type Item = Record<string, unknown>;

/**
 * Keys of the triage items. Audit records live in the partition of their finding (or rule, or
 * the tenant), and GSI1 and GSI3 give the per-suppression and per-image views of the same items.
 */
const key = {
  rule: (tenant: string, id: string) => ({ PK: `T#${tenant}#SUPPR#${id}`, SK: 'RULE' }),
  rules: (tenant: string) => `T#${tenant}#SUPPRS`,
  policy: (tenant: string) => ({ PK: `T#${tenant}#POLICY`, SK: 'CURRENT' }),
  auditOfFinding: (tenant: string, imageKey: string, findingId: string) => `T#${tenant}#AUDIT#F#${imageKey}#${findingId}`,
  auditOfRule: (tenant: string, ruleId: string) => `T#${tenant}#AUDIT#S#${ruleId}`,
  auditOfImage: (tenant: string, imageKey: string) => `T#${tenant}#AUDIT#I#${imageKey}`,
  auditOfTenant: (tenant: string) => `T#${tenant}#AUDIT#TENANT`,
  report: (tenant: string, id: string) => ({ PK: `T#${tenant}#SAUDIT#${id}`, SK: 'REPORT' }),
  reports: (tenant: string) => `T#${tenant}#SAUDITS`,
  /**
   * Tenants with suppression rules, for the scheduled audit that must visit each. This list is
   * about tenants rather than inside one, so its key has no tenant prefix.
   */
  tenantsWithRules: () => 'G#SUPPRESSION_TENANTS',
};

function strip<T>(item: Item): T {
  const { PK, SK, GSI1PK, GSI1SK, GSI3PK, GSI3SK, entity, ...rest } = item;
  return rest as T;
}

export type AuditSubject = { findingOf: { imageKey: string; findingId: string } } | { rule: string } | { image: string };

export class TriageStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly tenant: string,
  ) {
    assertTenant(tenant);
  }

  // ---- suppression rules ----------------------------------------------------------------

  async getRule(id: string): Promise<SuppressionRule | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.rule(this.tenant, id) }));
    return response.Item ? strip<SuppressionRule>(response.Item) : undefined;
  }

  /** Writes a rule; with `expectedState` only while the stored rule is in that state (null: new rule). */
  async putRule(rule: SuppressionRule, expectedState?: SuppressionState | null): Promise<void> {
    const item = { ...key.rule(this.tenant, rule.id), GSI1PK: key.rules(this.tenant), GSI1SK: `${rule.createdAt}#${rule.id}`, entity: 'suppression', ...rule };
    await putWithState(this.db, this.tableName, item, expectedState, `Suppression ${rule.id} changed while it was being updated; read it again and retry`);
  }

  /** Records that this tenant has suppression rules, so the scheduled audit visits it. */
  async registerTenant(): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { PK: key.tenantsWithRules(), SK: this.tenant, entity: 'tenant', tenant: this.tenant } }));
  }

  /** Tenants that have created suppression rules. */
  static async tenantsWithRules(db: DynamoDBDocumentClient, tableName: string): Promise<string[]> {
    const tenants: string[] = [];
    let after: string | undefined;
    do {
      const page = await queryPage<{ tenant: string }>(db, tableName, { KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': key.tenantsWithRules() } }, { first: 500, after });
      tenants.push(...page.items.map((item) => item.node.tenant));
      after = page.hasNextPage ? page.endCursor : undefined;
    } while (after);
    return tenants;
  }

  async putAuditReport(report: SuppressionAuditReport): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...key.report(this.tenant, report.id), GSI1PK: key.reports(this.tenant), GSI1SK: `${report.ranAt}#${report.id}`, entity: 'suppressionAudit', ...report },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
  }

  /** Stored suppression audit reports, newest first. */
  async listAuditReports(page: PageRequest): Promise<Page<SuppressionAuditReport>> {
    assertPageSize(page.first);
    return this.queryPage<SuppressionAuditReport>({ IndexName: INDEXES.byRepositoryOrOrigin, KeyConditionExpression: 'GSI1PK = :pk', ExpressionAttributeValues: { ':pk': key.reports(this.tenant) }, ScanIndexForward: false }, page);
  }

  /** Rules of the tenant, newest first, optionally only those in one state. */
  async listRules(page: PageRequest, state?: SuppressionState): Promise<Page<SuppressionRule>> {
    assertPageSize(page.first);
    return this.queryPage<SuppressionRule>(
      {
        IndexName: INDEXES.byRepositoryOrOrigin,
        KeyConditionExpression: 'GSI1PK = :pk',
        ExpressionAttributeValues: { ':pk': key.rules(this.tenant), ...(state ? { ':state': state } : {}) },
        ...(state ? { FilterExpression: '#state = :state', ExpressionAttributeNames: { '#state': 'state' } } : {}),
        ScanIndexForward: false,
      },
      page,
    );
  }

  async activeRules(): Promise<SuppressionRule[]> {
    const rules: SuppressionRule[] = [];
    let after: string | undefined;
    do {
      const page = await this.listRules({ first: 500, after }, 'ACTIVE');
      rules.push(...page.items.map((item) => item.node));
      after = page.hasNextPage ? page.endCursor : undefined;
    } while (after);
    return rules;
  }

  // ---- risk policy ------------------------------------------------------------------------

  async getPolicy(): Promise<RiskPolicy> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.policy(this.tenant) }));
    return response.Item ? strip<RiskPolicy>(response.Item) : DEFAULT_RISK_POLICY;
  }

  /** Stores a new policy version; fails when another change stored that version first. */
  async putPolicy(policy: RiskPolicy): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key.policy(this.tenant), entity: 'policy', ...policy },
          ConditionExpression: 'attribute_not_exists(PK) OR #version < :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':version': policy.version },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError(`Risk policy version ${policy.version} already exists; read the policy again and retry`, { cause: error });
      throw error;
    }
  }

  // ---- audit trail ------------------------------------------------------------------------

  /** Appends audit records. Each gets a fresh id in its sort key, so no write replaces another record. */
  async appendAudit(records: Array<Omit<AuditRecord, 'id'>>): Promise<AuditRecord[]> {
    const written = records.map((record) => ({ ...record, id: randomUUID() }));
    const items = written.map((record) => {
      // The monotonic clock orders records written in the same millisecond, as one change writes several.
      const sortKey = `${record.at}#${process.hrtime.bigint().toString().padStart(20, '0')}#${record.id}`;
      const partition =
        record.findingId && record.imageKey
          ? key.auditOfFinding(this.tenant, record.imageKey, record.findingId)
          : record.ruleId
            ? key.auditOfRule(this.tenant, record.ruleId)
            : key.auditOfTenant(this.tenant);

      return {
        PK: partition,
        SK: sortKey,
        ...(record.ruleId ? { GSI1PK: key.auditOfRule(this.tenant, record.ruleId), GSI1SK: sortKey } : {}),
        ...(record.imageKey ? { GSI3PK: key.auditOfImage(this.tenant, record.imageKey), GSI3SK: sortKey } : {}),
        entity: 'audit',
        ...record,
      };
    });

    await batchWrite(this.db, this.tableName, items.map((item) => ({ PutRequest: { Item: item } })));
    return written;
  }

  /** Audit records of a finding, a rule or an image, oldest first. */
  async listAudit(subject: AuditSubject, page: PageRequest): Promise<Page<AuditRecord>> {
    assertPageSize(page.first);

    if ('findingOf' in subject) {
      return this.queryPage<AuditRecord>(
        { KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': key.auditOfFinding(this.tenant, subject.findingOf.imageKey, subject.findingOf.findingId) } },
        page,
      );
    }
    if ('rule' in subject) {
      return this.queryPage<AuditRecord>(
        { IndexName: INDEXES.byRepositoryOrOrigin, KeyConditionExpression: 'GSI1PK = :pk', ExpressionAttributeValues: { ':pk': key.auditOfRule(this.tenant, subject.rule) } },
        page,
      );
    }
    return this.queryPage<AuditRecord>(
      { IndexName: INDEXES.byPackage, KeyConditionExpression: 'GSI3PK = :pk', ExpressionAttributeValues: { ':pk': key.auditOfImage(this.tenant, subject.image) } },
      page,
    );
  }

  async listTenantAudit(page: PageRequest): Promise<Page<AuditRecord>> {
    assertPageSize(page.first);
    return this.queryPage<AuditRecord>({ KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': key.auditOfTenant(this.tenant) } }, page);
  }

  private queryPage<T>(input: Omit<QueryCommandInput, 'TableName'>, page: PageRequest): Promise<Page<T>> {
    return queryPage<T>(this.db, this.tableName, input, page);
  }
}
