import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';

import { DeliveryError } from '../retry.ts';
import { checkedLookup, isPrivateAddress, PrivateAddressError, privateAddressMessage } from '../webhook-address.ts';
import type { FetchFunction } from './http.ts';

/** Status codes whose responses have no body; the Response constructor rejects a body for them. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function headersOf(init: RequestInit | undefined): Record<string, string> {
  return Object.fromEntries(new Headers(init?.headers).entries());
}

async function readBody(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Builds a fetch for webhook deliveries that connects only to addresses that passed the
 * private-address check. An IP literal is checked before the request. A host name is resolved by
 * checkedLookup, which checks every address and connects to a checked one. Without
 * the setting a rejected host fails with a DeliveryError that is not retried. It supports what
 * the senders use: a string URL, method, headers, a string body, a signal, and no redirects.
 */
export function addressCheckedFetch(allowPrivate: () => boolean): FetchFunction {
  const lookup = checkedLookup(allowPrivate);

  const checkedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !allowPrivate() && isPrivateAddress(host)) throw new DeliveryError(privateAddressMessage(url.hostname, host), false);

    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = send(url, { method: init?.method ?? 'GET', headers: headersOf(init), lookup: lookup as never, signal: init?.signal ?? undefined }, resolve);
      request.on('error', (error) => reject(error instanceof PrivateAddressError ? new DeliveryError(error.message, false) : error));
      request.end(typeof init?.body === 'string' ? init.body : undefined);
    });

    const body = await readBody(response);
    const headers = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (Array.isArray(value)) for (const item of value) headers.append(name, item);
      else if (value !== undefined) headers.set(name, value);
    }
    const status = response.statusCode ?? 502;
    return new Response(NULL_BODY_STATUSES.has(status) ? null : new Uint8Array(body), { status, headers });
  };
  return checkedFetch as FetchFunction;
}
