import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { createDocumentClient, ensureTable, startLocalDynamo, Store, type LocalDynamo } from '@stratum/core';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface BenchStore {
  dynamo: LocalDynamo;
  db: DynamoDBDocumentClient;
  store: Store;
  tableName: string;
  /** DynamoDB commands sent since the last reset, by command name. */
  commands: string[];
  close(): Promise<void>;
}

/**
 * Starts a fresh in-memory dynalite server with one table, so each run starts from an empty
 * store and the memory of earlier runs is released when it closes.
 */
export async function startBenchStore(): Promise<BenchStore> {
  const dynamo = await startLocalDynamo();
  const db = createDocumentClient({ endpoint: dynamo.endpoint });
  const tableName = `stratum-bench-${randomUUID().slice(0, 8)}`;
  await ensureTable(db, tableName);

  const commands: string[] = [];
  db.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? 'unknown');
      return next(args);
    },
    { step: 'initialize', name: 'benchCountCommands' },
  );

  return {
    dynamo,
    db,
    store: new Store(db, tableName),
    tableName,
    commands,
    close: async () => {
      db.destroy();
      await dynamo.close();
    },
  };
}

/** Runs `work` on a fresh store after a garbage collection, and closes the store afterwards. */
export async function onFreshStore<T>(work: (bench: BenchStore) => Promise<T>): Promise<T> {
  const bench = await startBenchStore();
  try {
    collectGarbage();
    return await work(bench);
  } finally {
    await bench.close();
  }
}

// The npm script cannot pass --expose-gc through tsx, so the flag is set at run time. A collection
// before each timed run keeps the garbage of earlier runs out of its numbers.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

export function collectGarbage(): void {
  collect();
}

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Samples the resident set size on a timer while `work` runs. The store runs in-process and
 * replies over sockets, so the event loop turns often enough for the timer to fire.
 */
export async function withPeakRss<T>(work: () => Promise<T>, intervalMs = 5): Promise<{ value: T; startRss: number; peakRss: number }> {
  const startRss = process.memoryUsage().rss;
  let peakRss = startRss;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, intervalMs);

  try {
    const value = await work();
    sample();
    return { value, startRss, peakRss };
  } finally {
    clearInterval(timer);
  }
}
