import { GateRequestError } from './client.ts';
import type { GateResultView } from './gate-result.ts';

export interface WaitOptions {
  waitSeconds: number;
  /** Current time in milliseconds, injected by tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called before each retry, with what is awaited and the delay, so the pipeline log shows progress. */
  onRetry?: (reason: string, delayMs: number) => void;
  /** Returns false for a PENDING result not worth waiting for; the wait then ends at once, without timedOut. */
  worthWaiting?: (result: GateResultView) => boolean;
}

export interface WaitOutcome {
  result: GateResultView;
  timedOut: boolean;
}

const FIRST_DELAY_MS = 2_000;
const MAX_DELAY_MS = 30_000;
const BACKOFF_FACTOR = 1.5;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Requests the gate decision until it is PASS or FAIL or the wait runs out. The delay between
 * requests starts at 2 s and grows by half each time, up to 30 s. The last delay is cut to end
 * at the deadline, so a PENDING image is requested one final time when the wait ends. A 502,
 * 503 or 504 is retried the same way, and every other request error ends the wait at once.
 */
export async function waitForDecision(request: () => Promise<GateResultView>, options: WaitOptions): Promise<WaitOutcome> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const deadline = now() + options.waitSeconds * 1000;
  let delay = FIRST_DELAY_MS;
  let last: GateResultView | undefined;

  for (;;) {
    let reason: string;
    let failure: GateRequestError | undefined;
    try {
      last = await request();
      if (last.decision !== 'PENDING') return { result: last, timedOut: false };
      if (options.worthWaiting && !options.worthWaiting(last)) return { result: last, timedOut: false };
      reason = last.reasons[0] ?? `the result is PENDING (${last.pendingReason ?? 'no reason given'})`;
    } catch (error) {
      if (!(error instanceof GateRequestError) || !error.retryable) throw error;
      failure = error;
      reason = error.message;
    }

    const remaining = deadline - now();
    if (remaining <= 0) {
      // A wait that never got a response is a connection problem, not a pending scan.
      if (failure || !last) throw failure ?? new GateRequestError('No response from the server before the wait ran out');
      return { result: last, timedOut: true };
    }

    const pause = Math.min(delay, remaining);
    options.onRetry?.(reason, pause);
    await sleep(pause);
    delay = Math.min(delay * BACKOFF_FACTOR, MAX_DELAY_MS);
  }
}
