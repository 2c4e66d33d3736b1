import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import { tableDefinition } from './table.ts';

export interface ClientOptions {
  /** A DynamoDB-compatible endpoint such as the local dynalite server; STRATUM_DYNAMODB_ENDPOINT, then the AWS default, when omitted. */
  endpoint?: string;
  region?: string;
}

/**
 * Creates the document client. Against a local endpoint any credentials work, so fixed dummy
 * ones keep a developer's real AWS credentials out of local runs.
 */
export function createDocumentClient(options: ClientOptions = {}): DynamoDBDocumentClient {
  const endpoint = options.endpoint ?? process.env.STRATUM_DYNAMODB_ENDPOINT;
  const local = endpoint !== undefined;
  const client = new DynamoDBClient({
    endpoint,
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });

  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** Creates the table with all its indexes unless it exists. Used by local runs and tests only. */
export async function ensureTable(client: DynamoDBDocumentClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }

  await client.send(new CreateTableCommand(tableDefinition(tableName)));

  // dynalite reports CREATING briefly even with createTableMs 0.
  for (let attempt = 0; attempt < 50; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  throw new Error(`Table ${tableName} did not become ACTIVE within 5 s`);
}
