import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import type { AlertChannel } from '../alerts/channel.ts';
import type { Alert, AlertDelivery, DeliveryState } from '../alerts/model.ts';
import { ConflictError } from '../errors.ts';
import { assertTenant } from './keys.ts';
import { assertPageSize, type Page, type PageRequest } from './paging.ts';
import { queryAll, queryPage, stripKeys } from './query.ts';
import { INDEXES } from './table.ts';

type Item = Record<string, unknown>;

/**
 * Keys of the alert items (see the table comment in table.ts). A delivery lives in its alert's
 * partition; GSI1 lists the deliveries waiting for an attempt, by due time, and holds only those;
 * GSI2 lists a violation's deliveries; GSI3 lists deliveries by state.
 */
const key = {
  channel: (tenant: string, id: string) => ({ PK: `T#${tenant}#ACHAN#${id}`, SK: 'CHANNEL' }),
  channels: (tenant: string) => `T#${tenant}#ACHANS`,
  alert: (tenant: string, alertKey: string) => ({ PK: `T#${tenant}#ALERT#${alertKey}`, SK: 'ALERT' }),
  delivery: (tenant: string, alertKey: string, channelId: string) => ({ PK: `T#${tenant}#ALERT#${alertKey}`, SK: `D#${channelId}` }),
  due: (tenant: string) => `T#${tenant}#ADLV#DUE`,
  ofViolation: (tenant: string, violationId: string) => `T#${tenant}#ADLV#V#${violationId}`,
  inState: (tenant: string, state: DeliveryState) => `T#${tenant}#ADLV#S#${state}`,
  jiraIssue: (tenant: string, channelId: string, label: string) => ({ PK: `T#${tenant}#AJIRA#${channelId}#${label}`, SK: 'ISSUE' }),
  /** Tenants that have dispatched alerts, for the local runner's sweep; about tenants, so no tenant prefix. */
  tenants: () => 'G#ALERT_TENANTS',
};

/** A Jira issue recorded for a violation (or an alert without violation) on one channel. */
export interface JiraIssueLink {
  issueKey: string;
  label: string;
  createdAt: string;
  /** The delivery whose attempt created the issue; later deliveries comment on it instead. */
  createdByDelivery?: string;
}

/** Alert channels, alerts, their deliveries and the Jira issue of each violation. One instance serves one tenant. */
export class AlertStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly tenant: string,
  ) {
    assertTenant(tenant);
  }

  // ---- channels --------------------------------------------------------------------------

  async getChannel(id: string): Promise<AlertChannel | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.channel(this.tenant, id), ConsistentRead: true }));
    return response.Item ? stripKeys<AlertChannel>(response.Item) : undefined;
  }

  /**
   * Writes a channel. With `expectedUpdatedAt` null it writes only a new channel. With a string it
   * writes only while the stored channel still has that `updatedAt`, so two concurrent edits cannot both win.
   */
  async putChannel(channel: AlertChannel, expectedUpdatedAt: string | null): Promise<void> {
    const condition =
      expectedUpdatedAt === null
        ? { ConditionExpression: 'attribute_not_exists(PK)' }
        : { ConditionExpression: 'updatedAt = :expected', ExpressionAttributeValues: { ':expected': expectedUpdatedAt } };
    const item = { ...key.channel(this.tenant, channel.id), GSI1PK: key.channels(this.tenant), GSI1SK: `${channel.createdAt}#${channel.id}`, entity: 'alertChannel', ...channel };

    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: item, ...condition }));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError(`Alert channel ${channel.id} changed while it was being updated; read it again and retry`, { cause: error });
      throw error;
    }
  }

  /** Lists channels, oldest first. */
  async listChannels(page: PageRequest): Promise<Page<AlertChannel>> {
    assertPageSize(page.first);
    return queryPage<AlertChannel>(
      this.db,
      this.tableName,
      { IndexName: INDEXES.byRepositoryOrOrigin, KeyConditionExpression: 'GSI1PK = :pk', ExpressionAttributeValues: { ':pk': key.channels(this.tenant) } },
      page,
    );
  }

  /** Deletes a channel; returns false when it did not exist. Its deliveries stay, and pending ones fail at their next attempt. */
  async deleteChannel(id: string): Promise<boolean> {
    const response = await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: key.channel(this.tenant, id), ReturnValues: 'ALL_OLD' }));
    return response.Attributes !== undefined;
  }

  /**
   * Updates a channel's health counters after an attempt, without touching its configuration, so
   * an edit made meanwhile is kept. A channel deleted meanwhile is left deleted.
   */
  async recordChannelAttempt(id: string, at: string, failure?: { error: string; permanent: boolean }): Promise<void> {
    const update: { UpdateExpression: string; ExpressionAttributeNames: Record<string, string>; ExpressionAttributeValues: Item } = failure
      ? {
          UpdateExpression:
            'SET #h.#failures = #h.#failures + :one, #h.#lastError = :error, #h.#lastFailureAt = :at, #h.#permanent = :permanent, #h.#since = if_not_exists(#h.#since, :at)',
          ExpressionAttributeNames: { '#h': 'health', '#failures': 'consecutiveFailures', '#lastError': 'lastError', '#lastFailureAt': 'lastFailureAt', '#permanent': 'lastFailurePermanent', '#since': 'failingSince' },
          ExpressionAttributeValues: { ':one': 1, ':error': failure.error, ':at': at, ':permanent': failure.permanent },
        }
      : {
          UpdateExpression: 'SET #h.#failures = :zero, #h.#lastSuccessAt = :at REMOVE #h.#since, #h.#permanent',
          ExpressionAttributeNames: { '#h': 'health', '#failures': 'consecutiveFailures', '#lastSuccessAt': 'lastSuccessAt', '#since': 'failingSince', '#permanent': 'lastFailurePermanent' },
          ExpressionAttributeValues: { ':zero': 0, ':at': at },
        };

    try {
      await this.db.send(new UpdateCommand({ TableName: this.tableName, Key: key.channel(this.tenant, id), ConditionExpression: 'attribute_exists(PK)', ...update }));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  // ---- alerts and deliveries --------------------------------------------------------------

  /** Stores an alert unless one with its key exists; returns whether this call stored it. */
  async putAlertIfAbsent(alert: Alert): Promise<boolean> {
    return this.putIfAbsent({ ...key.alert(this.tenant, alert.key), entity: 'alert', ...alert });
  }

  async getAlert(alertKey: string): Promise<Alert | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.alert(this.tenant, alertKey), ConsistentRead: true }));
    return response.Item ? stripKeys<Alert>(response.Item) : undefined;
  }

  /** Stores a delivery unless it exists; returns whether this call stored it. */
  async putDeliveryIfAbsent(delivery: AlertDelivery): Promise<boolean> {
    return this.putIfAbsent(this.deliveryItem(delivery));
  }

  async getDelivery(alertKey: string, channelId: string): Promise<AlertDelivery | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.delivery(this.tenant, alertKey, channelId), ConsistentRead: true }));
    return response.Item ? stripKeys<AlertDelivery>(response.Item) : undefined;
  }

  /** Lists every delivery of one alert. */
  async listDeliveriesOfAlert(alertKey: string): Promise<AlertDelivery[]> {
    const items = await queryAll(this.db, this.tableName, {
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: { ':pk': key.alert(this.tenant, alertKey).PK, ':prefix': 'D#' },
      ConsistentRead: true,
    });
    return items.map((item) => stripKeys<AlertDelivery>(item));
  }

  /**
   * Takes a PENDING delivery for one attempt. It succeeds only while no other worker has an
   * unexpired lease and the stored attempts equal `delivery.attempts`; otherwise it returns false.
   */
  async claimDelivery(delivery: AlertDelivery, lease: { leaseId: string; leaseUntil: string; now: string }): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key.delivery(this.tenant, delivery.alertKey, delivery.channelId),
          UpdateExpression: 'SET leaseId = :lease, leaseUntil = :until',
          ConditionExpression: '#state = :pending AND attempts = :attempts AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':lease': lease.leaseId, ':until': lease.leaseUntil, ':pending': 'PENDING', ':attempts': delivery.attempts, ':now': lease.now },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Records an attempt's outcome, only while the lease `leaseId` is still the delivery's lease. */
  async recordAttempt(delivery: AlertDelivery, leaseId: string): Promise<void> {
    const { leaseId: _lease, leaseUntil: _until, ...released } = delivery;
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.deliveryItem(released),
          ConditionExpression: 'leaseId = :lease',
          ExpressionAttributeValues: { ':lease': leaseId },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(`Delivery ${delivery.id} was taken over by another worker after its lease expired; the other worker records its outcome`, { cause: error });
      }
      throw error;
    }
  }

  /** Lists the deliveries of one violation, oldest first, so its API can show the alerts it sent. */
  async listDeliveries(violationId: string, page: PageRequest): Promise<Page<AlertDelivery>> {
    assertPageSize(page.first);
    return queryPage<AlertDelivery>(
      this.db,
      this.tableName,
      { IndexName: INDEXES.byVulnerability, KeyConditionExpression: 'GSI2PK = :pk', ExpressionAttributeValues: { ':pk': key.ofViolation(this.tenant, violationId) } },
      page,
    );
  }

  /** Lists deliveries in one state, most recently changed first; DEAD and FAILED ones are those that need attention. */
  async listDeliveriesByState(state: DeliveryState, page: PageRequest): Promise<Page<AlertDelivery>> {
    assertPageSize(page.first);
    return queryPage<AlertDelivery>(
      this.db,
      this.tableName,
      { IndexName: INDEXES.byPackage, KeyConditionExpression: 'GSI3PK = :pk', ExpressionAttributeValues: { ':pk': key.inState(this.tenant, state) }, ScanIndexForward: false },
      page,
    );
  }

  /** PENDING deliveries whose next attempt is due at `now`, earliest first. */
  async listDueDeliveries(now: string, limit: number): Promise<AlertDelivery[]> {
    const page = await queryPage<AlertDelivery>(
      this.db,
      this.tableName,
      {
        IndexName: INDEXES.byRepositoryOrOrigin,
        // '~' sorts after the hex digits of the delivery id that follows the time.
        KeyConditionExpression: 'GSI1PK = :pk AND GSI1SK <= :bound',
        ExpressionAttributeValues: { ':pk': key.due(this.tenant), ':bound': `${now}#~` },
      },
      { first: limit },
    );
    return page.items.map(({ node }) => node);
  }

  private deliveryItem(delivery: AlertDelivery): Item {
    const sortKey = `${delivery.updatedAt}#${delivery.id}`;
    return {
      ...key.delivery(this.tenant, delivery.alertKey, delivery.channelId),
      // Only PENDING deliveries are in the due index, so the runner's Query reads nothing else.
      ...(delivery.state === 'PENDING' ? { GSI1PK: key.due(this.tenant), GSI1SK: `${delivery.nextAttemptAt ?? delivery.createdAt}#${delivery.id}` } : {}),
      ...(delivery.violationId ? { GSI2PK: key.ofViolation(this.tenant, delivery.violationId), GSI2SK: `${delivery.createdAt}#${delivery.id}` } : {}),
      GSI3PK: key.inState(this.tenant, delivery.state),
      GSI3SK: sortKey,
      entity: 'alertDelivery',
      ...delivery,
    };
  }

  // ---- Jira issues -------------------------------------------------------------------------

  async getJiraIssue(channelId: string, label: string): Promise<JiraIssueLink | undefined> {
    const response = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key.jiraIssue(this.tenant, channelId, label), ConsistentRead: true }));
    return response.Item ? stripKeys<JiraIssueLink>(response.Item) : undefined;
  }

  /** Records the issue of a label; the first recorded issue stays, and it is returned. */
  async putJiraIssue(channelId: string, link: JiraIssueLink): Promise<JiraIssueLink> {
    const stored = await this.putIfAbsent({ ...key.jiraIssue(this.tenant, channelId, link.label), entity: 'jiraIssue', ...link });
    if (stored) return link;
    return (await this.getJiraIssue(channelId, link.label)) ?? link;
  }

  // ---- tenants -----------------------------------------------------------------------------

  /** Records that this tenant has alerts, so a local runner started later visits it. */
  async registerTenant(): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { PK: key.tenants(), SK: this.tenant, entity: 'tenant', tenant: this.tenant } }));
  }

  static async tenantsWithAlerts(db: DynamoDBDocumentClient, tableName: string): Promise<string[]> {
    const items = await queryAll(db, tableName, { KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': key.tenants() } });
    return items.map((item) => item.tenant as string);
  }

  private async putIfAbsent(item: Item): Promise<boolean> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(PK)' }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
