import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export type WriteRequest = { PutRequest?: { Item: Record<string, unknown> }; DeleteRequest?: { Key: Record<string, unknown> } };

/** BatchWriteItem accepts at most 25 requests per call. */
const BATCH_WRITE_SIZE = 25;
const MAX_ATTEMPTS = 8;

/** Runs BatchWriteItem in chunks of 25, resending unprocessed items with a growing pause. */
export async function batchWrite(db: DynamoDBDocumentClient, tableName: string, requests: WriteRequest[]): Promise<void> {
  for (let start = 0; start < requests.length; start += BATCH_WRITE_SIZE) {
    let pending = requests.slice(start, start + BATCH_WRITE_SIZE);

    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw new Error(`BatchWriteItem left ${pending.length} items unprocessed after ${attempt} attempts`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));

      const response = await db.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
      pending = (response.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
    }
  }
}
