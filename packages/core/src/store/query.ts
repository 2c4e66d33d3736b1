import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

import { InvalidInputError } from '../errors.ts';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from './paging.ts';

type Item = Record<string, unknown>;

/** Upper bound on Query calls behind one filtered page, so a sparse filter cannot loop for long. */
const MAX_QUERIES_PER_PAGE = 20;
/**
 * Items a filtered Query evaluates per call. DynamoDB applies Limit before the filter, so a small
 * Limit would return a sparse filter's few matches only after many calls.
 */
const FILTERED_EVALUATION_LIMIT = 1000;

/** Names of the key attributes a cursor carries: the table's keys, plus the index's when one is used. */
export function keyAttributes(index: string | undefined): string[] {
  return index ? ['PK', 'SK', `${index}PK`, `${index}SK`] : ['PK', 'SK'];
}

/** Removes the key attributes, so that callers get the domain object back. */
export function stripKeys<T>(item: Item): T {
  const { PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, entity, ...rest } = item;
  return rest as T;
}

/**
 * Runs a Query page: requests one item more than the page to learn whether a next page exists,
 * and with a filter keeps reading until the page is full or the partition ends. Cursors are the
 * key attributes of an item, so an edge cursor and the end cursor resume at the same place.
 */
export async function queryPage<T>(db: DynamoDBDocumentClient, tableName: string, input: Omit<QueryCommandInput, 'TableName'>, page: PageRequest): Promise<Page<T>> {
  const names = keyAttributes(input.IndexName);
  const collected: Item[] = [];
  let start: Item | undefined = page.after ? decodeCursor(page.after, names) : undefined;

  // A cursor from another query (or another tenant) must not steer this one: its partition must be this query's.
  const partitionName = names[input.IndexName ? 2 : 0]!;
  if (start && start[partitionName] !== input.ExpressionAttributeValues?.[':pk']) {
    throw new InvalidInputError(`Invalid cursor ${JSON.stringify(page.after!.slice(0, 40))}: it belongs to another list; pass an endCursor or edge cursor from the same query`, { path: 'after', value: page.after });
  }
  let queries = 0;

  do {
    const wanted = page.first + 1 - collected.length;
    const limit = input.FilterExpression ? Math.max(wanted, FILTERED_EVALUATION_LIMIT) : wanted;
    const response = await db.send(new QueryCommand({ ...input, TableName: tableName, ExclusiveStartKey: start, Limit: limit }));
    collected.push(...(response.Items ?? []));
    start = response.LastEvaluatedKey;
    queries++;
  } while (start && collected.length <= page.first && queries < MAX_QUERIES_PER_PAGE);

  const items = collected.slice(0, page.first).map((item) => ({
    node: stripKeys<T>(item),
    cursor: encodeCursor(Object.fromEntries(names.map((name) => [name, item[name]]))),
  }));
  const hasNextPage = collected.length > page.first || start !== undefined;
  const endCursor = items.at(-1)?.cursor ?? (start ? encodeCursor(start) : undefined);

  return { items, hasNextPage, endCursor };
}

/** Reads every item of a Query, page by page; for work off the request path (cleanup, re-evaluation). */
export async function queryAll(db: DynamoDBDocumentClient, tableName: string, input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;

  do {
    const response = await db.send(new QueryCommand({ ...input, TableName: tableName, ExclusiveStartKey: start }));
    items.push(...(response.Items ?? []));
    start = response.LastEvaluatedKey;
  } while (start);

  return items;
}
