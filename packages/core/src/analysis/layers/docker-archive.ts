import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';

import tar from 'tar-stream';
import { z } from 'zod';

import { sha256 } from '../../digest.ts';
import { InvalidInputError } from '../../errors.ts';
import { parseImageConfig } from '../../image/config.ts';
import type { Platform } from '../../image/manifest.ts';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../../registry/registry.ts';
import { parseWith } from '../../validation.ts';
import { openLayoutImage, type BlobStore } from './blob-store.ts';
import { writable } from './read-layer.ts';
import { assertLayerCount, parseJsonDocument, type OpenedImage } from './source.ts';

/** Location of a file's bytes inside the archive. */
interface ArchiveMember {
  offset: number;
  size: number;
}

const TAR_BLOCK = 512;

const dockerManifestSchema = z.array(
  z.object({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
  }),
);

function memberName(name: string): string {
  return name.replace(/^(\.\/)+/, '');
}

/**
 * Lists the regular files of a tar archive with the offset of their content. tar-stream reports
 * the offset of each entry's last header block, and the content starts one block later.
 * NOTE: tar-stream reads every byte to find the headers, so an archive is read twice in all.
 * Seeking from header to header would avoid the first full read.
 */
async function indexArchive(path: string): Promise<Map<string, ArchiveMember>> {
  const members = new Map<string, ArchiveMember>();
  const extract = tar.extract();
  const input = createReadStream(path);

  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (extract.destroyed) return;
        if (!extract.write(chunk as Buffer)) await writable(extract);
      }
      extract.end(undefined);
    } catch (error) {
      extract.destroy(error as Error);
      throw error;
    }
  })();

  const listing = (async () => {
    for await (const entry of extract) {
      const { header } = entry;
      if (header.type === 'file' || header.type === 'contiguous-file') members.set(memberName(header.name), { offset: entry.offset + TAR_BLOCK, size: header.size });
      entry.resume();
    }
  })();

  try {
    await Promise.all([feeding, listing]);
  } catch (error) {
    input.destroy();
    throw new InvalidInputError(`${path} is not a readable docker save archive: ${(error as Error).message}`, { path }, { cause: error });
  }
  return members;
}

/** Files of a `docker save` archive, read in place without extracting it. */
class ArchiveBlobStore implements BlobStore {
  constructor(
    readonly location: string,
    private readonly members: Map<string, ArchiveMember>,
  ) {}

  has(name: string): boolean {
    return this.members.has(memberName(name));
  }

  async readFile(name: string, limit: number): Promise<Buffer | undefined> {
    const member = this.members.get(memberName(name));
    if (!member) return undefined;
    if (member.size > limit) throw new InvalidInputError(`${this.location}: ${name} is ${member.size} bytes, over the limit of ${limit} bytes for this kind of document`, { path: name, value: member.size });

    const handle = await open(this.location, 'r');
    try {
      const buffer = Buffer.alloc(member.size);
      const { bytesRead } = await handle.read(buffer, 0, member.size, member.offset);
      if (bytesRead !== member.size) throw new InvalidInputError(`${this.location}: ${name} is cut short (${bytesRead} of ${member.size} bytes)`, { path: name });
      return buffer;
    } finally {
      await handle.close();
    }
  }

  async openFile(name: string): Promise<Readable> {
    const member = this.members.get(memberName(name));
    if (!member) throw new InvalidInputError(`${this.location}: ${name} is missing from the archive`, { path: name });
    if (member.size === 0) return createReadStream(this.location, { start: 1, end: 0 });
    return createReadStream(this.location, { start: member.offset, end: member.offset + member.size - 1 });
  }
}

/** Opens an image the way Docker before release 25 saved it: manifest.json, `<id>.json` configs and `<id>/layer.tar` layers. */
async function openClassicArchive(store: ArchiveBlobStore, reference: string | undefined): Promise<OpenedImage> {
  const manifestBytes = await store.readFile('manifest.json', MAX_MANIFEST_BYTES);
  if (!manifestBytes) throw new InvalidInputError(`${store.location} is not a docker save archive: it has neither index.json nor manifest.json`, { path: 'manifest.json' });
  const images = parseWith(dockerManifestSchema, parseJsonDocument(manifestBytes, `${store.location}/manifest.json`), 'docker save manifest.json');

  const tags = images.map((image) => image.RepoTags?.join(' ') || image.Config);
  let image: (typeof images)[number] | undefined;
  if (reference === undefined) image = images.length === 1 ? images[0] : undefined;
  else image = images.find((candidate) => candidate.RepoTags?.includes(reference) || candidate.RepoTags?.some((tag) => tag.endsWith(`/${reference}`)));
  if (!image) {
    const problem = reference === undefined ? `contains ${images.length} images; name one with a reference` : `has no image tagged ${reference}`;
    throw new InvalidInputError(`${store.location} ${problem}; it contains: ${tags.join(', ') || 'nothing'}`, { path: 'reference', value: reference });
  }

  const configBytes = await store.readFile(image.Config, MAX_CONFIG_BYTES);
  if (!configBytes) throw new InvalidInputError(`${store.location}: the config ${image.Config} named in manifest.json is missing`, { path: image.Config });
  const config = parseImageConfig(parseJsonDocument(configBytes, `${store.location}/${image.Config}`));
  assertLayerCount(image.Layers.length, config, `${store.location}/manifest.json`);

  for (const layer of image.Layers) {
    if (!store.has(layer)) throw new InvalidInputError(`${store.location}: the layer ${layer} named in manifest.json is missing`, { path: layer });
  }

  const layers = image.Layers.map((layer, i) => ({ diffId: config.rootfs.diff_ids[i]!, open: () => store.openFile(layer) }));
  return { imageId: sha256(configBytes), config, layers };
}

/**
 * Opens an image of a `docker save` archive. Docker 25 and later write an OCI image layout
 * inside the archive (index.json and blobs/), which is read as one; earlier releases write only
 * manifest.json. The archive is indexed once and then read in place.
 */
export async function openDockerArchive(path: string, reference?: string, platform?: Partial<Platform>): Promise<OpenedImage> {
  const store = new ArchiveBlobStore(path, await indexArchive(path));

  if (store.has('index.json') && store.has('oci-layout')) return openLayoutImage(store, reference, platform);
  return openClassicArchive(store, reference);
}
