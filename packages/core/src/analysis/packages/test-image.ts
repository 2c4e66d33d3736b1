import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { ImageFileSystem, normalizePath } from '../filesystem.ts';
import type { ContentInspector, ContentSelector } from '../model.ts';
import { packageInspectors, packageSelectors } from './index.ts';

/**
 * Builds merged image file systems for the package reader tests the way the layer reader does:
 * layer by layer, running the content inspectors on each file and keeping what a selector keeps.
 */

/** One layer entry: file content, a symlink, an empty file of a size, or null for a whiteout. */
export type LayerEntry = Buffer | string | { symlink: string } | { emptyFile: number } | null;
export type Layer = Map<string, LayerEntry>;

export function buildImage(layers: Layer[], inspectors: ContentInspector[] = packageInspectors, selectors: ContentSelector[] = packageSelectors): ImageFileSystem {
  const fs = new ImageFileSystem();
  const keptContent = new Map<string, Buffer>();
  fs.setContentReader(async (node) => keptContent.get(node.path));

  layers.forEach((layer, layerIndex) => {
    for (const [rawPath, entry] of layer) {
      const path = normalizePath(rawPath);

      if (entry === null) {
        fs.remove(path, layerIndex);
        continue;
      }

      if (typeof entry === 'object' && 'symlink' in entry) {
        fs.add({ path, kind: 'symlink', size: 0, mode: 0o777, linkTarget: entry.symlink, layerIndex });
        continue;
      }

      let content: Buffer;
      if (Buffer.isBuffer(entry)) content = entry;
      else if (typeof entry === 'string') content = Buffer.from(entry);
      else content = Buffer.alloc(entry.emptyFile);
      const facts: Record<string, unknown> = {};
      for (const inspector of inspectors) {
        if (content.length > inspector.maxBytes || !inspector.wants(path, content.length, content.subarray(0, 512))) continue;
        const fact = inspector.inspect(path, content);
        if (fact !== undefined) facts[inspector.name] = fact;
      }

      const stored = selectors.some((selector) => content.length <= selector.maxBytes && selector.keep(path, content.length));
      if (stored) keptContent.set(path, content);
      else keptContent.delete(path);

      fs.add({ path, kind: 'file', size: content.length, mode: 0o644, layerIndex, ...(Object.keys(facts).length ? { facts } : {}), ...(stored ? { stored } : {}) });
    }
  });

  return fs;
}

/**
 * Adds a path of this machine to a layer as the machine has it. A symlink stays a symlink and a
 * regular file brings its content. A path under a symlinked folder (/lib on merged-/usr Debian)
 * is added at its real location. Directories are skipped, because files imply them. Returns false
 * when the path does not exist here.
 */
export function addHostPath(layer: Layer, path: string, options: { content?: boolean } = {}): boolean {
  let real: string;
  try {
    real = join(realpathSync(dirname(path)), basename(path));
  } catch {
    return false;
  }

  const stat = lstatSync(real, { throwIfNoEntry: false });
  if (!stat || stat.isDirectory()) return Boolean(stat);

  if (stat.isSymbolicLink()) layer.set(real, { symlink: readlinkSync(real) });
  else if (stat.isFile()) layer.set(real, options.content === false ? { emptyFile: stat.size } : readFileSync(real));
  return true;
}

/** Adds the merged-/usr symlinks at the root of this machine (/lib → usr/lib and so on). */
export function addHostRootLinks(layer: Layer): void {
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const stat = lstatSync(`/${name}`, { throwIfNoEntry: false });
    if (stat?.isSymbolicLink()) layer.set(`/${name}`, { symlink: readlinkSync(`/${name}`) });
  }
}
