import { randomUUID } from 'node:crypto';

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient, ensureTable, fixedClock, silentLogger, startLocalDynamo, Store, type IngestContext, type LocalDynamo } from '@stratum/core';

export interface TestStore {
  dynamo: LocalDynamo;
  db: DynamoDBDocumentClient;
  store: Store;
  tableName: string;
  /** DynamoDB commands sent since the last reset, by command name. */
  commands: string[];
  context(tenant?: string): IngestContext & { clock: ReturnType<typeof fixedClock> };
  close(): Promise<void>;
}

/**
 * Starts an in-memory dynalite server with a fresh table, and counts every command the SDK
 * client sends through a middleware, so tests can assert how many requests a read costs.
 */
export async function startTestStore(): Promise<TestStore> {
  const dynamo = await startLocalDynamo();
  const db = createDocumentClient({ endpoint: dynamo.endpoint });
  const tableName = `stratum-test-${randomUUID().slice(0, 8)}`;
  await ensureTable(db, tableName);

  const commands: string[] = [];
  db.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? 'unknown');
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );

  const store = new Store(db, tableName);
  const clock = fixedClock('2026-12-01T12:00:00Z');

  return {
    dynamo,
    db,
    store,
    tableName,
    commands,
    context: (tenant = 'acme') => ({ store: store.forTenant(tenant), clock, logger: silentLogger }),
    close: async () => {
      db.destroy();
      await dynamo.close();
    },
  };
}
