import { DeliveryError, isRetryableStatus, parseRetryAfter } from '../retry.ts';

/** Time allowed for one HTTP request to a receiver, headers and body included. */
export const HTTP_TIMEOUT_MS = 10_000;

export type FetchFunction = typeof fetch;

/**
 * Sends one HTTP request and returns the response of a 2xx. Timeouts and network errors become
 * retryable DeliveryErrors; other statuses become DeliveryErrors that are retryable for 408, 425,
 * 429 and 5xx. Redirects are not followed, so a signed body or a token never reaches another host.
 */
export async function request(fetchImpl: FetchFunction, url: string, init: RequestInit, what: string, now: Date): Promise<Response> {
  let response: Response;
  try {
    response = await fetchImpl(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (error) {
    // A check that rejected the receiver before connecting already chose its message and that it is final.
    if (error instanceof DeliveryError) throw error;
    const name = (error as Error).name;
    const reason = name === 'TimeoutError' || name === 'AbortError' ? `timed out after ${HTTP_TIMEOUT_MS / 1000} s` : `failed: ${(error as Error).message}`;
    throw new DeliveryError(`${what} ${reason}`, true, {}, { cause: error });
  }

  if (response.status >= 200 && response.status < 300) return response;

  // The start of the body usually names the problem. It is cut short so a large page cannot fill the store.
  const body = (await response.text().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 200);
  const retryable = isRetryableStatus(response.status);
  let hint = '';
  if (response.status === 401 || response.status === 403) hint = '; check the credentials of the channel';
  else if (response.status >= 300 && response.status < 400) hint = '; redirects are not followed, so configure the final URL';
  throw new DeliveryError(`${what} failed with HTTP ${response.status}${body ? `: ${body}` : ''}${hint}`, retryable, {
    status: response.status,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now),
  });
}
