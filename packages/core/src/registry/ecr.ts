import type { Readable } from 'node:stream';

import { BatchGetImageCommand, GetDownloadUrlForLayerCommand, type ECRClient } from '@aws-sdk/client-ecr';

import { MANIFEST_MEDIA_TYPES } from '../image/manifest.ts';
import { bodyStream, MAX_CONFIG_BYTES, readLimited, RegistryError, type ManifestResponse, type RegistryClient } from './registry.ts';

/** Blob downloads that take longer than this fail, so a stalled transfer cannot hold a Lambda until its own timeout. */
const DOWNLOAD_TIMEOUT_MS = 30_000;

/** Amazon ECR through its API: BatchGetImage for manifests, GetDownloadUrlForLayer for blobs. */
export class EcrRegistry implements RegistryClient {
  constructor(
    private readonly ecr: ECRClient,
    private readonly registryId?: string,
  ) {}

  async getManifest(repository: string, reference: string): Promise<ManifestResponse> {
    const imageId = reference.startsWith('sha256:') ? { imageDigest: reference } : { imageTag: reference };
    const response = await this.call(() =>
      this.ecr.send(new BatchGetImageCommand({ registryId: this.registryId, repositoryName: repository, imageIds: [imageId], acceptedMediaTypes: [...MANIFEST_MEDIA_TYPES] })),
    );

    const image = response.images?.[0];
    if (!image?.imageManifest) {
      const failure = response.failures?.[0];
      throw new RegistryError(`ECR has no manifest for ${repository}@${reference}: ${failure?.failureReason ?? 'no image returned'}`, failure?.failureCode ?? 404);
    }

    return { digest: image.imageId?.imageDigest ?? reference, mediaType: image.imageManifestMediaType, bytes: Buffer.from(image.imageManifest, 'utf8') };
  }

  async getBlob(repository: string, digest: string): Promise<Buffer> {
    const blob = await this.download(repository, digest, AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS));
    return readLimited(blob, MAX_CONFIG_BYTES, digest);
  }

  /** Streams a blob from its pre-signed download URL. The timeout covers the response headers only, so a large layer may take longer. */
  async openBlob(repository: string, digest: string): Promise<Readable> {
    const headersOnly = new AbortController();
    const timer = setTimeout(() => headersOnly.abort(new Error(`no response within ${DOWNLOAD_TIMEOUT_MS} ms`)), DOWNLOAD_TIMEOUT_MS);

    try {
      return bodyStream(await this.download(repository, digest, headersOnly.signal));
    } finally {
      clearTimeout(timer);
    }
  }

  private async download(repository: string, digest: string, signal: AbortSignal): Promise<Response> {
    const response = await this.call(() => this.ecr.send(new GetDownloadUrlForLayerCommand({ registryId: this.registryId, repositoryName: repository, layerDigest: digest })));
    if (!response.downloadUrl) throw new RegistryError(`ECR returned no download URL for ${repository}@${digest}`, 404);

    let blob: Response;
    try {
      blob = await fetch(response.downloadUrl, { signal });
    } catch (error) {
      throw new RegistryError(`Downloading ${repository}@${digest} from ECR failed: ${(error as Error).message}`, 'DownloadFailed', { cause: error });
    }
    if (!blob.ok) throw new RegistryError(`Downloading ${repository}@${digest} from ECR failed with HTTP ${blob.status}`, blob.status);

    return blob;
  }

  private async call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const name = (error as { name?: string }).name;
      throw new RegistryError(`ECR request failed: ${(error as Error).message}`, name, { cause: error });
    }
  }
}
