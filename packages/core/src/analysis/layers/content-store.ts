import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FileNode } from '../model.ts';

/** Location of one kept file's bytes. */
interface KeptContent {
  file: string;
  offset: number;
  length: number;
}

/** The file that the current layer's kept content is appended to. */
interface LayerOutput {
  layerIndex: number;
  file: string;
  stream: WriteStream;
  /** Bytes written to the stream so far; the batch follows them. */
  offset: number;
  batch: Buffer;
  batchUsed: number;
}

const BATCH_BYTES = 1024 * 1024;

/**
 * The private temporary folder that keeps the content selectors ask for. Each layer's kept files
 * are appended to one file named after the layer index, never after a path in the image, and
 * created exclusively ('wx'), so no name from a layer can direct a write anywhere else. One
 * sequential file per layer instead of one file per kept file saves an open and a close per file,
 * which dominated the cost on images with thousands of package.json files.
 */
export class ContentStore {
  readonly #kept = new WeakMap<FileNode, KeptContent>();
  #output?: LayerOutput;
  #disposed = false;

  private constructor(readonly dir: string) {}

  /** Creates the folder under `tempRoot` (default: the OS temporary folder) with mode 0700. */
  static async create(tempRoot = tmpdir()): Promise<ContentStore> {
    const dir = await mkdtemp(join(tempRoot, 'stratum-layers-'));
    await chmod(dir, 0o700);
    return new ContentStore(dir);
  }

  async #outputFor(layerIndex: number): Promise<LayerOutput> {
    if (this.#output?.layerIndex === layerIndex) return this.#output;

    await this.flush();
    const file = join(this.dir, `layer-${layerIndex}`);
    const stream = createWriteStream(file, { flags: 'wx', mode: 0o600 });
    this.#output = { layerIndex, file, stream, offset: 0, batch: Buffer.allocUnsafe(BATCH_BYTES), batchUsed: 0 };
    return this.#output;
  }

  /**
   * Appends a file's content and records where it went. Small chunks are copied into a batch
   * buffer and written 1 MiB at a time, because one write per kept file costs more than the copy.
   */
  async keep(node: FileNode, chunks: AsyncIterable<Buffer> | Buffer[]): Promise<void> {
    const output = await this.#outputFor(node.layerIndex);
    const offset = output.offset + output.batchUsed;

    for await (const chunk of chunks) {
      if (chunk.length > BATCH_BYTES - output.batchUsed) await this.#writeBatch(output);

      if (chunk.length >= BATCH_BYTES) {
        output.offset += chunk.length;
        // Waits for this write itself, because the caller may reuse the chunk's memory (the inspectors' scratch buffer).
        await new Promise<void>((resolve, reject) => output.stream.write(chunk, (error) => (error ? reject(error) : resolve())));
        continue;
      }
      chunk.copy(output.batch, output.batchUsed);
      output.batchUsed += chunk.length;
    }
    this.#kept.set(node, { file: output.file, offset, length: output.offset + output.batchUsed - offset });
  }

  async #writeBatch(output: LayerOutput): Promise<void> {
    if (!output.batchUsed) return;

    const full = output.batch.subarray(0, output.batchUsed);
    output.offset += output.batchUsed;
    // The stream keeps the written buffer until the write completes, so the next batch needs its own.
    output.batch = Buffer.allocUnsafe(BATCH_BYTES);
    output.batchUsed = 0;
    if (!output.stream.write(full)) await waitForDrain(output.stream);
  }

  /** Makes a hardlink read the content kept for its target, so the content survives when a later layer deletes the target's name. */
  share(link: FileNode, target: FileNode): boolean {
    const kept = this.#kept.get(target);
    if (kept !== undefined) this.#kept.set(link, kept);
    return kept !== undefined;
  }

  /** Waits until everything appended was written to the file; the reader calls it before returning the file system. */
  async flush(): Promise<void> {
    const output = this.#output;
    if (!output) return;

    await this.#writeBatch(output);
    this.#output = undefined;
    await new Promise<void>((resolve, reject) => {
      output.stream.once('error', reject);
      output.stream.end(() => resolve());
    });
  }

  /** Reads kept content back; undefined for a node whose content was not kept, or after dispose. */
  async read(node: FileNode): Promise<Buffer | undefined> {
    const kept = this.#kept.get(node);
    if (kept === undefined || this.#disposed) return undefined;

    const handle = await open(kept.file, 'r');
    try {
      const content = Buffer.alloc(kept.length);
      await handle.read(content, 0, kept.length, kept.offset);
      return content;
    } finally {
      await handle.close();
    }
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    this.#output?.stream.destroy();
    this.#output = undefined;
    await rm(this.dir, { recursive: true, force: true });
  }
}

function waitForDrain(stream: WriteStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('drain', done);
      stream.off('error', done);
      if (error) reject(error);
      else resolve();
    };
    stream.on('drain', done);
    stream.on('error', done);
  });
}
