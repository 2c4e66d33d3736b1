import { InvalidInputError } from '../../errors.ts';
import type { Platform } from '../../image/manifest.ts';
import { fetchImage } from '../../registry/fetch-image.ts';
import type { RegistryClient } from '../../registry/registry.ts';
import { assertLayerCount, type OpenedImage } from './source.ts';

/** Opens an image in a registry: the manifest and config are fetched and checked, layers are streamed later with openBlob. */
export async function openRegistryImage(registry: RegistryClient, repository: string, reference: string, platform?: Partial<Platform>): Promise<OpenedImage> {
  const openBlob = registry.openBlob?.bind(registry);
  if (!openBlob) throw new InvalidInputError('The registry client cannot stream blobs (it has no openBlob), so layers cannot be read from it', { path: 'registry' });

  const image = await fetchImage(registry, repository, reference, platform);
  assertLayerCount(image.manifest.layers.length, image.config, `Manifest ${image.manifestDigest}`);

  const layers = image.manifest.layers.map((layer, i) => ({
    digest: layer.digest,
    diffId: image.config.rootfs.diff_ids[i]!,
    mediaType: layer.mediaType,
    open: () => openBlob(repository, layer.digest),
  }));

  return { manifestDigest: image.manifestDigest, imageId: image.manifest.config.digest, config: image.config, layers };
}
