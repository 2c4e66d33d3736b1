import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

import { InvalidInputError } from '../../errors.ts';
import type { Platform } from '../../image/manifest.ts';
import { openLayoutImage, type BlobStore } from './blob-store.ts';
import type { OpenedImage } from './source.ts';

/** Blobs of an OCI image layout folder. Names come from validated digests or fixed file names, so they stay inside the folder. */
class FolderBlobStore implements BlobStore {
  constructor(readonly location: string) {}

  async readFile(name: string, limit: number): Promise<Buffer | undefined> {
    let handle;
    try {
      handle = await open(join(this.location, name), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }

    try {
      const { size } = await handle.stat();
      if (size > limit) throw new InvalidInputError(`${this.location}/${name} is ${size} bytes, over the limit of ${limit} bytes for this kind of document`, { path: name, value: size });
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async openFile(name: string): Promise<Readable> {
    const stream = createReadStream(join(this.location, name));
    // Opening errors (a missing blob) surface here rather than in the middle of the layer pipeline.
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error) => reject(new InvalidInputError(`${this.location}: cannot read ${name}: ${error.message}`, { path: name }, { cause: error })));
    });
    return stream;
  }
}

/** Opens an image of the OCI image layout folder at `path`. */
export function openOciLayout(path: string, reference?: string, platform?: Partial<Platform>): Promise<OpenedImage> {
  return openLayoutImage(new FolderBlobStore(path), reference, platform);
}
