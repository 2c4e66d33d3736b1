import type { Readable } from 'node:stream';

import type { Digest } from '../../digest.ts';
import { InvalidInputError } from '../../errors.ts';
import type { ImageConfig } from '../../image/config.ts';
import type { Platform } from '../../image/manifest.ts';
import type { RegistryClient } from '../../registry/registry.ts';

/** Location of an image to read. `reference` is a tag or a manifest digest; `platform` picks from an index (default linux/amd64). */
export type ImageSource =
  | { kind: 'oci-layout'; path: string; reference?: string; platform?: Partial<Platform> }
  | { kind: 'docker-archive'; path: string; reference?: string; platform?: Partial<Platform> }
  | { kind: 'registry'; registry: RegistryClient; repository: string; reference: string; platform?: Partial<Platform> };

/** One layer blob of an opened image, not yet read. */
export interface LayerBlob {
  /** Digest of the stored blob as the manifest lists it; undefined in a classic `docker save` archive, which has no manifest. */
  digest?: Digest;
  /** Digest of the uncompressed tar, from the config's rootfs.diff_ids. */
  diffId: Digest;
  mediaType?: string;
  /** Streams the blob's bytes as stored. */
  open(): Promise<Readable>;
}

/** An image whose manifest and config were read and checked, with its layers ready to stream. */
export interface OpenedImage {
  manifestDigest?: Digest;
  /** The config digest. */
  imageId: Digest;
  config: ImageConfig;
  layers: LayerBlob[];
}

/** Parses JSON from a small document, naming the document when it is not JSON. */
export function parseJsonDocument(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidInputError(`${what} is not valid JSON: ${(error as Error).message}`, { path: what }, { cause: error });
  }
}

/** Checks that the manifest lists one layer per diff_id, because the reader pairs them by position. */
export function assertLayerCount(manifestLayers: number, config: ImageConfig, what: string): void {
  const diffIds = config.rootfs.diff_ids.length;
  if (manifestLayers === diffIds) return;

  throw new InvalidInputError(`${what} lists ${manifestLayers} layers but its config lists ${diffIds} diff_ids; the manifest and the config describe different images`, {
    path: 'rootfs.diff_ids',
    value: diffIds,
  });
}
