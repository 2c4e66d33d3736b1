import { createHash, timingSafeEqual } from 'node:crypto';

import type { Authenticator, Principal } from './context.ts';
import { UnauthenticatedError } from './errors.ts';

/** Local mode: one tenant, no credential. Only for the embedded default on a developer's machine. */
export function localAuthenticator(tenant = 'local'): Authenticator {
  return () => ({ tenant, actor: 'local-user' });
}

/**
 * API keys, configured as `sha256-hex-of-key=tenant` pairs separated by commas, so the
 * configuration never contains a usable key. The key is read from the `x-api-key` header.
 */
export function apiKeyAuthenticator(configuration: string): Authenticator {
  const entries = configuration
    .split(',')
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const [hash, tenant] = pair.split('=');
      if (!hash || !tenant || !/^[a-f0-9]{64}$/.test(hash)) {
        throw new Error('Invalid STRATUM_API_KEYS entry: expected <sha256 hex of the key>=<tenant>, separated by commas');
      }
      return { hash: Buffer.from(hash, 'hex'), tenant, actor: `api-key:${hash.slice(0, 12)}` };
    });

  return (request) => {
    const key = request.headers.get('x-api-key');
    if (!key) throw new UnauthenticatedError('Missing credential: send an API key in the x-api-key header');

    const digest = createHash('sha256').update(key).digest();
    const match = entries.find((entry) => timingSafeEqual(entry.hash, digest));
    if (!match) throw new UnauthenticatedError('Invalid API key');
    return { tenant: match.tenant, actor: match.actor };
  };
}

/**
 * JWTs validated by API Gateway's JWT authorizer: the tenant is the claim named by
 * `claimName` in the authorizer's verified claims, never a value from the request body.
 */
export function jwtClaimAuthenticator(claimName = 'tenant'): Authenticator {
  return (_request, serverContext) => {
    const event = serverContext.event as { requestContext?: { authorizer?: { jwt?: { claims?: Record<string, unknown> } } } } | undefined;
    const claims = event?.requestContext?.authorizer?.jwt?.claims;
    const tenant = claims?.[claimName];
    if (typeof tenant !== 'string' || tenant === '') {
      throw new UnauthenticatedError(`Missing credential: the request has no verified JWT with a ${claimName} claim`);
    }
    return { tenant, actor: typeof claims?.sub === 'string' ? `jwt:${claims.sub}` : 'jwt' };
  };
}

/** Accepts the first authenticator that succeeds; used when API keys and JWTs are both enabled. */
export function anyAuthenticator(...authenticators: Authenticator[]): Authenticator {
  return async (request, serverContext): Promise<Principal | string> => {
    let lastError: unknown;
    for (const authenticate of authenticators) {
      try {
        return await authenticate(request, serverContext);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };
}
