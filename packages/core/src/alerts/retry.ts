import { StratumError } from '../errors.ts';

/**
 * A failed send. `retryable` is true for throttling, server errors and timeouts; false for
 * rejections that only a configuration change can fix. `retryAfterMs` carries the receiver's
 * Retry-After.
 */
export class DeliveryError extends StratumError {
  override readonly code = 'DELIVERY_FAILED';

  constructor(
    message: string,
    readonly retryable: boolean,
    readonly details: { status?: number; retryAfterMs?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RetryPolicy {
  /** Attempts before a delivery is DEAD, the first one included. */
  maxAttempts: number;
  /** Delay before the second attempt; each later one doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Six attempts over about half an hour: 30 s, 1 min, 2 min, 4 min, 8 min, each with jitter. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 30_000, maxDelayMs: 15 * 60_000 };

/**
 * Delay before the next attempt after `attempts` failed ones: exponential with "equal jitter"
 * (half fixed, half random), so retries of many deliveries spread out. A receiver's Retry-After
 * is honoured when it is longer, up to maxDelayMs.
 */
export function retryDelayMs(policy: RetryPolicy, attempts: number, retryAfterMs: number | undefined, random: () => number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  const jittered = exponential / 2 + (random() * exponential) / 2;
  if (retryAfterMs === undefined) return Math.round(jittered);
  return Math.round(Math.min(policy.maxDelayMs, Math.max(retryAfterMs, jittered)));
}

/** Reads Retry-After as seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now: Date): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}

/** Statuses worth a retry: request timeout, too early, throttling and server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}
