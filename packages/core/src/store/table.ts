import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The single table's key design. Every partition key of tenant data starts with the tenant, so
 * no query can cross tenants. Items and their keys:
 *
 * | item            | PK                          | SK                 | GSI1 (PK / SK)                          | GSI2 (PK / SK)              | GSI3 (PK / SK)                     |
 * |-----------------|-----------------------------|--------------------|-----------------------------------------|-----------------------------|------------------------------------|
 * | image           | T#t#IMG#key                 | IMAGE              | T#t#REPO#repo / pushedAt#key            |                             |                                    |
 * | digest alias    | T#t#REF#digest              | REF                |                                         |                             |                                    |
 * | repository      | T#t#REPOS                   | repository         |                                         |                             |                                    |
 * | layer chain     | T#t#CHAIN#chainId           | IMG#key            |                                         |                             |                                    |
 * | chain top       | T#t#TOP#chainId             | TOP                |                                         |                             |                                    |
 * | finding         | T#t#SCAN#scanId             | F#rank#findingId   | T#t#SCAN#scanId#O#origin / rank#id      | T#t#VULN#vulnId / key#id    | T#t#PKG#name / key#rank#id         |
 * | finding alias   | T#t#SCAN#scanId             | A#alias#findingId  |                                         | T#t#VULN#alias / key#id     |                                    |
 * | VEX document    | T#t#VEX#docKey              | DOC                | T#t#VEXDOCS / importedAt#docKey         |                             |                                    |
 * | VEX statement   | T#t#VEXSTMTS                | docKey#index       |                                         |                             |                                    |
 * | VEX history     | T#t#FHIST#key#findingId     | at#cause#docKey    |                                         |                             |                                    |
 * | suppression     | T#t#SUPPR#id                | RULE               | T#t#SUPPRS / createdAt#id               |                             |                                    |
 * | audit record    | T#t#AUDIT#F#key#findingId   | at#seq#id          | T#t#AUDIT#S#ruleId / at#seq#id          |                             | T#t#AUDIT#I#key / at#seq#id        |
 * | audit report    | T#t#SAUDIT#id               | REPORT             | T#t#SAUDITS / ranAt#id                  |                             |                                    |
 * | risk policy     | T#t#POLICY                  | CURRENT            |                                         |                             |                                    |
 * | analysis head   | T#t#ANALYSIS#digest         | HEAD               |                                         |                             |                                    |
 * | analysis alias  | T#t#ANALYSIS#imageId        | ALIAS              |                                         |                             |                                    |
 * | analysis        | T#t#ANALYSIS#digest         | V#version#A        |                                         |                             |                                    |
 * | analysed package| T#t#ANALYSIS#digest         | V#version#P#n      |                                         |                             |                                    |
 * | analysis files  | T#t#ANALYSIS#digest         | V#version#F#n      |                                         |                             |                                    |
 * | runtime evidence| T#t#ANALYSIS#digest         | OBS#at#id          |                                         |                             |                                    |
 * | alert channel   | T#t#ACHAN#id                | CHANNEL            | T#t#ACHANS / createdAt#id               |                             |                                    |
 * | alert           | T#t#ALERT#key               | ALERT              |                                         |                             |                                    |
 * | alert delivery  | T#t#ALERT#key               | D#channelId        | T#t#ADLV#DUE / nextAttemptAt#id         | T#t#ADLV#V#violation / at#id| T#t#ADLV#S#state / updatedAt#id    |
 * | Jira issue link | T#t#AJIRA#channelId#label   | ISSUE              |                                         |                             |                                    |
 * | workflow        | T#t#WF#id                   | WORKFLOW           | T#t#WFS / createdAt#id                  |                             |                                    |
 * | SLA record      | T#t#SLA#recordKey           | SLA                | T#t#SLADUE / dueDate#recordKey          |                             |                                    |
 * | violation       | T#t#VIOL#id                 | VIOLATION          | T#t#VIOLS / openedAt#id                 | T#t#VIOLOPEN / openedAt#id  |                                    |
 * | seen base image | T#t#BASESEEN#baseKey        | BASE               |                                         |                             |                                    |
 * | feed data       | G#FEED#…                    | …                  |                                         |                             |                                    |
 * | tenants w/ rules| G#SUPPRESSION_TENANTS       | tenant             |                                         |                             |                                    |
 * | tenants w/ workflows| G#WORKFLOW_TENANTS     | tenant             |                                         |                             |                                    |
 * | tenants w/ alerts| G#ALERT_TENANTS            | tenant             |                                         |                             |                                    |
 *
 * Audit records of a rule or of the tenant itself use T#t#AUDIT#S#ruleId or T#t#AUDIT#TENANT as PK.
 * Keys starting with G# hold data about no single tenant: the public EPSS and KEV feeds, and the
 * list of tenants the scheduled audit visits.
 * An alert delivery is in the DUE index only while PENDING, so the local runner's Query reads
 * nothing else. It is in the violation index only when its alert names a violation.
 * A repository item lists a repository of the tenant once, written at ingest, so the SLA pass can
 * give deadlines to findings stored before an SLA workflow existed.
 * A finding alias is a copy of the finding under one of its aliases, so a search by any id finds it.
 * An analysis's HEAD names its current version; readers go through it, so a replaced analysis is
 * never seen half-written. Analysis files hold the gzipped file lists of every package, in chunks.
 * An SLA record's key is a digest of repository, vulnerability id and package without version, so
 * its deadline outlives re-scans and new digests. It is in the SLADUE index only while active and
 * tracked against the tenant, and a violation is in the VIOLOPEN index only while not closed, so
 * the daily SLA pass reads just the items it may act on.
 * `rank` is the severity rank (0 = CRITICAL), so ascending order lists the most severe first.
 * Every GSI projects all attributes and is created with the table, because DynamoDB Local
 * stand-ins such as dynalite cannot add one later.
 */
export const INDEXES = {
  byRepositoryOrOrigin: 'GSI1',
  byVulnerability: 'GSI2',
  byPackage: 'GSI3',
} as const;

export const KEY_ATTRIBUTES = ['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'GSI3PK', 'GSI3SK'] as const;

export function tableDefinition(tableName: string): CreateTableCommandInput {
  const index = (name: string) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: `${name}PK`, KeyType: 'HASH' as const },
      { AttributeName: `${name}SK`, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });

  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: KEY_ATTRIBUTES.map((name) => ({ AttributeName: name, AttributeType: 'S' as const })),
    KeySchema: [
      { AttributeName: 'PK', KeyType: 'HASH' },
      { AttributeName: 'SK', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: Object.values(INDEXES).map(index),
  };
}
