import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { startTestStore, type TestStore } from '../support/local-store.ts';

/** A fresh in-memory dynalite store with one table and a counter of the commands sent, as tests use. */
export type BenchStore = TestStore;

/**
 * Starts a fresh in-memory dynalite server with one table, so each run starts from an empty
 * store and the memory of earlier runs is released when it closes.
 */
export const startBenchStore = startTestStore;

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
