import { PackageURL } from 'packageurl-js';

import { baseName, normalizePath, parentOf, type ImageFileSystem } from '../filesystem.ts';
import type { AnalyzedPackage, FileNode } from '../model.ts';
import type { Distro } from './os-release.ts';

/** Input of every package reader: the merged file system, the distribution, and the list that collects warnings. */
export interface ReaderContext {
  fs: ImageFileSystem;
  distro?: Distro;
  warnings: string[];
}

export const KiB = 1024;
export const MiB = 1024 * KiB;

/**
 * Finds the node a database path names, following symlinks in its directories but not in its
 * last component. Package databases list paths as the package ships them, so on a merged-/usr
 * image `/lib/x86_64-linux-gnu/libc.so.6` is found at `/usr/lib/x86_64-linux-gnu/libc.so.6`.
 */
export function findInstalledNode(fs: ImageFileSystem, path: string): FileNode | undefined {
  const normalized = normalizePath(path);
  const exact = fs.entry(normalized);
  if (exact) return exact;

  const directory = fs.resolvePath(parentOf(normalized));
  if (directory === undefined) return undefined;

  const name = baseName(normalized);
  return fs.entry(directory === '/' ? `/${name}` : `${directory}/${name}`);
}

/**
 * Maps the paths a package database lists to the nodes that still exist at the top of the image,
 * without directories (many packages share /usr/bin) and without duplicates.
 */
export function findInstalledFiles(fs: ImageFileSystem, paths: Iterable<string>): FileNode[] {
  const found = new Map<string, FileNode>();

  for (const path of paths) {
    const node = findInstalledNode(fs, path);
    if (node && node.kind !== 'directory') found.set(node.path, node);
  }

  return [...found.values()];
}

/** Every non-directory node below a folder, skipping subfolders for which `skip` returns true. */
export function listFilesBelow(fs: ImageFileSystem, folder: string, skip: (path: string) => boolean = () => false): FileNode[] {
  const files: FileNode[] = [];
  const pending = [folder];

  while (pending.length) {
    const current = pending.pop()!;
    for (const node of fs.list(current)) {
      if (node.kind === 'directory') {
        if (!skip(node.path)) pending.push(node.path);
      } else {
        files.push(node);
      }
    }
  }

  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * Reads a file the package selectors kept, as UTF-8. Returns undefined when the file is absent,
 * and warns when it exists but the layer reader did not keep its content, usually because it was over the selector's size limit.
 */
export async function readKeptText(context: ReaderContext, path: string): Promise<string | undefined> {
  const content = await readKeptBytes(context, path);
  return content?.toString('utf8');
}

export async function readKeptBytes(context: ReaderContext, path: string): Promise<Buffer | undefined> {
  const node = context.fs.resolve(path);
  if (!node || node.kind !== 'file') return undefined;

  const content = await context.fs.read(path);
  if (content === undefined) {
    context.warnings.push(`${path}: content not available (${node.size} bytes; over the selector's size limit, or not selected), so the packages or files it lists are missing`);
  }
  return content;
}

/** Layer of the node or, with none, the fallback. */
export function layerOf(node: FileNode | undefined, fallback: number): number {
  return node ? node.layerIndex : fallback;
}

/** Returns the lowest layer index among the nodes, or undefined for none. */
export function earliestLayer(nodes: FileNode[]): number | undefined {
  let earliest: number | undefined;
  for (const node of nodes) if (earliest === undefined || node.layerIndex < earliest) earliest = node.layerIndex;
  return earliest;
}

/**
 * Builds a purl string. packageurl-js validates and percent-encodes each part, for example
 * an npm scope's '@' becomes %40.
 */
export function buildPurl(type: string, namespace: string | undefined, name: string, version: string, qualifiers?: Record<string, string | undefined>): string {
  const presentQualifiers: Record<string, string> = {};
  for (const [key, value] of Object.entries(qualifiers ?? {})) if (value) presentQualifiers[key] = value;

  const hasQualifiers = Object.keys(presentQualifiers).length > 0;
  return new PackageURL(type, namespace ?? null, name, version, hasQualifiers ? presentQualifiers : null, null).toString();
}

/** Builds the model's package id: the purl without qualifiers, followed by `|location` for language packages. */
export function packageId(purl: string, location?: string): string {
  const question = purl.indexOf('?');
  const bare = question < 0 ? purl : purl.slice(0, question);
  return location ? `${bare}|${location}` : bare;
}

/** Shortens a line of input for a warning, so that a binary or huge file cannot flood the log. */
export function excerpt(text: string, max = 60): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

/** Sorts packages by id for stable output. */
export function sortPackages(packages: AnalyzedPackage[]): AnalyzedPackage[] {
  return packages.sort((a, b) => {
    if (a.id !== b.id) return a.id < b.id ? -1 : 1;
    return a.layerIndex - b.layerIndex;
  });
}
