import { BatchWriteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';

import type { BenchStore } from './harness.ts';

/** All plain items share one partition, as an image's findings share their scan's partition. */
export const PLAIN_PARTITION = 'BENCH#plain';
const BATCH_WRITE_SIZE = 25;

type Item = Record<string, unknown>;

/** Builds a plain item whose JSON is `size` characters long, or only its keys when `size` is smaller. */
export function plainItem(index: number, size: number): Item {
  const item = { PK: PLAIN_PARTITION, SK: `I#${String(index).padStart(8, '0')}`, pad: '' };
  const missing = size - JSON.stringify(item).length;
  item.pad = 'x'.repeat(Math.max(0, missing));
  return item;
}

export function plainItems(count: number, size: number): Item[] {
  return Array.from({ length: count }, (_, index) => plainItem(index, size));
}

/** Writes items with BatchWriteItem in chunks of 25 and resends unprocessed ones, as the store writes findings. */
export async function batchWriteItems(bench: BenchStore, items: Item[]): Promise<void> {
  for (let start = 0; start < items.length; start += BATCH_WRITE_SIZE) {
    let pending: Item[] = items.slice(start, start + BATCH_WRITE_SIZE).map((item) => ({ PutRequest: { Item: item } }));

    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 8) throw new Error(`BatchWriteItem left ${pending.length} items unprocessed after ${attempt} attempts`);
      const response = await bench.db.send(new BatchWriteCommand({ RequestItems: { [bench.tableName]: pending } }));
      pending = (response.UnprocessedItems?.[bench.tableName] ?? []) as Item[];
    }
  }
}

/** Queries the first `limit` items of a partition, or of its sort keys that start with `prefix`, and returns their count. */
export async function queryFirst(bench: BenchStore, partition: string, limit: number, prefix?: string): Promise<number> {
  const response = await bench.db.send(
    new QueryCommand({
      TableName: bench.tableName,
      KeyConditionExpression: prefix === undefined ? 'PK = :pk' : 'PK = :pk AND begins_with(SK, :prefix)',
      ExpressionAttributeValues: prefix === undefined ? { ':pk': partition } : { ':pk': partition, ':prefix': prefix },
      Limit: limit,
    }),
  );
  return response.Items?.length ?? 0;
}

/** Reads every item of a partition, for measuring the size of stored items. */
export async function queryPartition(bench: BenchStore, partition: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;

  do {
    const response = await bench.db.send(
      new QueryCommand({ TableName: bench.tableName, KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': partition }, ExclusiveStartKey: start }),
    );
    items.push(...(response.Items ?? []));
    start = response.LastEvaluatedKey;
  } while (start);

  return items;
}
