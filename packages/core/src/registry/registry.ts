import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

import type { Digest } from '../digest.ts';

/** A manifest or index as the registry served it: the exact bytes, so the digest can be checked. */
export interface ManifestResponse {
  digest: Digest;
  mediaType?: string;
  bytes: Buffer;
}

/**
 * Read access to an image registry. ECR and OCI Distribution registries implement it, so the
 * push flow works the same on AWS and against a local registry.
 */
export interface RegistryClient {
  /** Gets a manifest or index by digest or tag. */
  getManifest(repository: string, reference: string): Promise<ManifestResponse>;
  /** Gets a blob (a config, or a layer) by digest. */
  getBlob(repository: string, digest: Digest): Promise<Buffer>;
  /**
   * Streams a blob of any size by digest, without buffering it. Optional so that small
   * stand-ins for tests need not implement it; the layer reader requires it.
   * NOTE: the implementations time out only while waiting for the response headers, so a body
   * that stalls halfway waits until the caller gives up.
   */
  openBlob?(repository: string, digest: Digest): Promise<Readable>;
}

/** A registry request that failed; `status` is the HTTP status or the AWS error name. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number | string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RegistryError';
  }

  /** Not found and access errors will not change on a retry; throttling and 5xx may. */
  get retryable(): boolean {
    if (typeof this.status === 'number') return this.status === 429 || this.status >= 500;
    return this.status === 'ThrottlingException' || this.status === 'ServerException';
  }
}

/** Manifests and configs are small; anything larger than this is not an image manifest. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** Reads a response body up to `limit` bytes, whether or not the server sent a content-length. */
export async function readLimited(response: Response, limit: number, what: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  const reader = response.body?.getReader();
  let size = 0;

  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;

    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new RegistryError(`${what} is larger than the limit of ${limit} bytes`, 413);
    }
    chunks.push(value);
  }

  return Buffer.concat(chunks);
}

/** Turns a response body into a Node.js stream; an empty body becomes an empty stream. */
export function bodyStream(response: Response): Readable {
  if (!response.body) return Readable.from([]);
  return Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>);
}
