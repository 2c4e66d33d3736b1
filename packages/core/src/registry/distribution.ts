import type { Readable } from 'node:stream';

import { MANIFEST_MEDIA_TYPES } from '../image/manifest.ts';
import { parseReferrersIndex, REFERRERS_MEDIA_TYPE, type ReferrerDescriptor, type ReferrersClient } from './referrers.ts';
import { bodyStream, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, readLimited, RegistryError, type ManifestResponse, type RegistryClient } from './registry.ts';

export interface DistributionOptions {
  /** Base URL of the registry, for example http://127.0.0.1:5000. */
  url: string;
  username?: string;
  password?: string;
  /** Per-request timeout in milliseconds; defaults to 30 s. */
  timeoutMs?: number;
}

/**
 * A registry that speaks the OCI Distribution API (the CNCF Distribution registry, Harbor,
 * Zot). Anonymous and basic authentication only.
 */
export class DistributionRegistry implements RegistryClient, ReferrersClient {
  private readonly base: string;

  constructor(private readonly options: DistributionOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  async getManifest(repository: string, reference: string): Promise<ManifestResponse> {
    const response = await this.get(`/v2/${repository}/manifests/${reference}`, MANIFEST_MEDIA_TYPES.join(', '));
    const bytes = await readLimited(response, MAX_MANIFEST_BYTES, reference);
    const digest = response.headers.get('docker-content-digest') ?? reference;

    return { digest, mediaType: response.headers.get('content-type') ?? undefined, bytes };
  }

  async getBlob(repository: string, digest: string): Promise<Buffer> {
    const response = await this.get(`/v2/${repository}/blobs/${digest}`, '*/*');
    return readLimited(response, MAX_CONFIG_BYTES, digest);
  }

  /**
   * Streams a blob. Registries often respond with a redirect to object storage, which fetch
   * follows. The timeout covers the response headers only, so a large layer may take longer.
   */
  async openBlob(repository: string, digest: string): Promise<Readable> {
    const response = await this.get(`/v2/${repository}/blobs/${digest}`, '*/*', { bodyTimeout: false });
    return bodyStream(response);
  }

  /** Lists referrers with the OCI 1.1 referrers API. A registry without it, such as Distribution 2.8, returns HTTP 404. */
  async listReferrers(repository: string, digest: string): Promise<ReferrerDescriptor[] | undefined> {
    let response: Response;
    try {
      response = await this.get(`/v2/${repository}/referrers/${digest}`, REFERRERS_MEDIA_TYPE);
    } catch (error) {
      if (error instanceof RegistryError && error.status === 404) return undefined;
      throw error;
    }

    // NOTE: only the first page is read, and a `Link` header to further pages is not followed.
    return parseReferrersIndex(await readLimited(response, MAX_MANIFEST_BYTES, `referrers of ${digest}`));
  }

  private async get(path: string, accept: string, { bodyTimeout = true }: { bodyTimeout?: boolean } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (this.options.username !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${this.options.username}:${this.options.password ?? ''}`).toString('base64')}`;
    }

    const timeoutMs = this.options.timeoutMs ?? 30_000;
    const headersOnly = new AbortController();
    const timer = bodyTimeout ? undefined : setTimeout(() => headersOnly.abort(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);

    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, { headers, signal: bodyTimeout ? AbortSignal.timeout(timeoutMs) : headersOnly.signal });
    } catch (error) {
      throw new RegistryError(`Registry request GET ${this.base}${path} failed: ${(error as Error).message}`, undefined, { cause: error });
    } finally {
      clearTimeout(timer);
    }

    if (!response.ok) {
      throw new RegistryError(`Registry request GET ${this.base}${path} failed with HTTP ${response.status}`, response.status);
    }
    return response;
  }
}
