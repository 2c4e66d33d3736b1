import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import { ConflictError } from '../errors.ts';

/**
 * Writes an item that has a `state` attribute. With `expectedState` the write succeeds only
 * while the stored item is in that state (null: only when no item exists yet); a lost race
 * becomes a ConflictError with `conflictMessage`, and every other error goes up unchanged.
 */
export async function putWithState(
  db: DynamoDBDocumentClient,
  tableName: string,
  item: Record<string, unknown>,
  expectedState: string | null | undefined,
  conflictMessage: string,
): Promise<void> {
  const condition =
    expectedState === undefined
      ? {}
      : expectedState === null
        ? { ConditionExpression: 'attribute_not_exists(PK)' }
        : { ConditionExpression: '#state = :expected', ExpressionAttributeNames: { '#state': 'state' }, ExpressionAttributeValues: { ':expected': expectedState } };

  try {
    await db.send(new PutCommand({ TableName: tableName, Item: item, ...condition }));
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw new ConflictError(conflictMessage, { cause: error });
    throw error;
  }
}
