import { sha256, type Digest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import { parseImageConfig, type ImageConfig } from '../image/config.ts';
import { parseManifestDocument, selectPlatform, type ImageManifest, type Platform } from '../image/manifest.ts';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, type RegistryClient } from './registry.ts';

export interface FetchedImage {
  /** Digest of the image manifest that was picked (for an index: the platform's manifest). */
  manifestDigest: Digest;
  /** Digest of the index the reference named, when it named one. */
  indexDigest?: Digest;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Annotations of the index entry that pointed at the manifest, merged under the manifest's own. */
  annotations: Record<string, string>;
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidInputError(`The registry returned a ${what} that is not valid JSON`, { path: what }, { cause: error });
  }
}

function verify(bytes: Buffer, expected: Digest | undefined, what: string): Digest {
  const actual = sha256(bytes);
  if (expected && expected.startsWith('sha256:') && actual !== expected) {
    throw new InvalidInputError(`The registry returned a ${what} whose digest is ${actual}, not the requested ${expected}; refusing content that does not match its digest`, {
      path: what,
      value: actual,
    });
  }
  return actual;
}

/**
 * Fetches an image's manifest and config, resolving an index to the platform's manifest and
 * checking every digest, so that what is stored is what the registry names.
 */
export async function fetchImage(registry: RegistryClient, repository: string, reference: string, platform?: Partial<Platform>): Promise<FetchedImage> {
  const first = await registry.getManifest(repository, reference);
  if (first.bytes.length > MAX_MANIFEST_BYTES) throw new InvalidInputError(`Manifest ${reference} is ${first.bytes.length} bytes, over the limit of ${MAX_MANIFEST_BYTES}`);

  const requested = reference.includes(':') && reference.startsWith('sha') ? reference : undefined;
  const firstDigest = verify(first.bytes, requested, 'manifest');
  const document = parseManifestDocument(parseJson(first.bytes, 'manifest'));

  let manifest: ImageManifest;
  let manifestDigest: Digest = firstDigest;
  let indexDigest: Digest | undefined;
  let annotations: Record<string, string> = {};

  if (document.kind === 'index') {
    const entry = selectPlatform(document.index, platform);
    const second = await registry.getManifest(repository, entry.digest);
    verify(second.bytes, entry.digest, 'manifest');
    const inner = parseManifestDocument(parseJson(second.bytes, 'manifest'));
    if (inner.kind !== 'manifest') throw new InvalidInputError(`Index ${firstDigest} points at another index ${entry.digest}; nested indexes are not supported`);

    manifest = inner.manifest;
    manifestDigest = entry.digest;
    indexDigest = firstDigest;
    annotations = entry.annotations ?? {};
  } else {
    manifest = document.manifest;
  }

  const configBytes = await registry.getBlob(repository, manifest.config.digest);
  if (configBytes.length > MAX_CONFIG_BYTES) throw new InvalidInputError(`Config ${manifest.config.digest} is ${configBytes.length} bytes, over the limit of ${MAX_CONFIG_BYTES}`);
  verify(configBytes, manifest.config.digest, 'config');
  const config = parseImageConfig(parseJson(configBytes, 'config'));

  return { manifestDigest, indexDigest, manifest, config, annotations: { ...annotations, ...manifest.annotations } };
}
