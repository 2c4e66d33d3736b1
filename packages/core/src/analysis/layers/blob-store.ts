import type { Readable } from 'node:stream';

import { sha256, type Digest } from '../../digest.ts';
import { InvalidInputError } from '../../errors.ts';
import { parseImageConfig } from '../../image/config.ts';
import { parseManifestDocument, selectPlatform, type Descriptor, type ImageManifest, type Platform } from '../../image/manifest.ts';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../../registry/registry.ts';
import { assertLayerCount, parseJsonDocument, type OpenedImage } from './source.ts';

/** An index inside an index inside an index is already unusual; deeper nesting is treated as a loop. */
const MAX_INDEX_DEPTH = 4;

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

/** Content-addressed blobs of an OCI image layout, on disk or inside a `docker save` archive. */
export interface BlobStore {
  /** Names the layout in messages, such as the folder or archive path. */
  readonly location: string;
  /** Reads a file of the layout by its relative path (index.json, manifest.json), up to `limit` bytes; undefined when missing. */
  readFile(name: string, limit: number): Promise<Buffer | undefined>;
  /** Streams the file at a relative path. */
  openFile(name: string): Promise<Readable>;
}

/** Returns the relative path of a blob; the digest was validated by the manifest schema, so it cannot contain a slash or '..'. */
export function blobName(digest: Digest): string {
  const [algorithm, hex] = digest.split(':');
  return `blobs/${algorithm}/${hex}`;
}

/** Reads a small blob and checks it against its digest. */
async function readVerifiedBlob(store: BlobStore, digest: Digest, limit: number, what: string): Promise<Buffer> {
  const bytes = await store.readFile(blobName(digest), limit);
  if (!bytes) throw new InvalidInputError(`${store.location}: the ${what} blob ${digest} is missing from blobs/`, { path: blobName(digest), value: digest });

  if (digest.startsWith('sha256:') && sha256(bytes) !== digest) {
    throw new InvalidInputError(`${store.location}: the ${what} blob ${digest} has digest ${sha256(bytes)}; the layout is damaged`, { path: blobName(digest), value: sha256(bytes) });
  }
  return bytes;
}

function describeEntry(descriptor: Descriptor): string {
  return descriptor.annotations?.[REF_NAME] ?? descriptor.annotations?.[CONTAINERD_NAME] ?? descriptor.digest;
}

/** Picks the index.json entry that a tag, a full image name or a digest names; without a reference, the only entry. */
function pickTopEntry(manifests: Descriptor[], reference: string | undefined, location: string): Descriptor {
  if (reference === undefined) {
    if (manifests.length === 1) return manifests[0]!;
    throw new InvalidInputError(`${location} contains ${manifests.length} images; name one with a reference: ${manifests.map(describeEntry).join(', ')}`, {
      path: 'reference',
      value: manifests.map(describeEntry),
    });
  }

  const match = manifests.find((descriptor) => {
    const annotations = descriptor.annotations ?? {};
    const fullName = annotations[CONTAINERD_NAME];
    return descriptor.digest === reference || annotations[REF_NAME] === reference || fullName === reference || fullName?.endsWith(`/${reference}`);
  });
  if (match) return match;

  throw new InvalidInputError(`${location} has no image named ${reference}; it contains: ${manifests.map(describeEntry).join(', ') || 'nothing'}`, {
    path: 'reference',
    value: reference,
  });
}

/**
 * Opens an image of an OCI image layout: index.json, then nested indexes down to the platform's
 * manifest, then the config. Every manifest, index and config is checked against its digest.
 */
export async function openLayoutImage(store: BlobStore, reference: string | undefined, platform: Partial<Platform> | undefined): Promise<OpenedImage> {
  const indexBytes = await store.readFile('index.json', MAX_MANIFEST_BYTES);
  if (!indexBytes) throw new InvalidInputError(`${store.location} is not an OCI image layout: index.json is missing`, { path: 'index.json' });

  const top = parseManifestDocument(parseJsonDocument(indexBytes, `${store.location}/index.json`));
  if (top.kind !== 'index') throw new InvalidInputError(`${store.location}/index.json is an image manifest, not an image index`, { path: 'index.json' });

  let descriptor = pickTopEntry(top.index.manifests, reference, store.location);
  let manifest: ImageManifest | undefined;

  for (let depth = 0; depth <= MAX_INDEX_DEPTH && !manifest; depth++) {
    const bytes = await readVerifiedBlob(store, descriptor.digest, MAX_MANIFEST_BYTES, 'manifest');
    const document = parseManifestDocument(parseJsonDocument(bytes, `manifest ${descriptor.digest}`));

    if (document.kind === 'manifest') manifest = document.manifest;
    else descriptor = selectPlatform(document.index, platform);
  }
  if (!manifest) throw new InvalidInputError(`${store.location}: image indexes are nested more than ${MAX_INDEX_DEPTH} deep`, { path: 'index.json' });

  const configBytes = await readVerifiedBlob(store, manifest.config.digest, MAX_CONFIG_BYTES, 'config');
  const config = parseImageConfig(parseJsonDocument(configBytes, `config ${manifest.config.digest}`));
  assertLayerCount(manifest.layers.length, config, `Manifest ${descriptor.digest}`);

  const layers = manifest.layers.map((layer, i) => ({
    digest: layer.digest,
    diffId: config.rootfs.diff_ids[i]!,
    mediaType: layer.mediaType,
    open: () => store.openFile(blobName(layer.digest)),
  }));

  return { manifestDigest: descriptor.digest, imageId: manifest.config.digest, config, layers };
}
