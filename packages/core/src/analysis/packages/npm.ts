import { baseName, parentOf } from '../filesystem.ts';
import type { AnalyzedPackage, ContentSelector, FileNode } from '../model.ts';
import { buildPurl, excerpt, listFilesBelow, MiB, packageId, readKeptText, type ReaderContext } from './common.ts';

export const npmSelectors: ContentSelector[] = [{ maxBytes: 4 * MiB, keep: (path) => baseName(path) === 'package.json' }];

/** A package folder directly inside node_modules: node_modules/<name> or node_modules/@<scope>/<name>. */
const PACKAGE_FOLDER = /\/node_modules\/(?:@[^/]+\/)?[^/.][^/]*$/;

export interface NpmResult {
  packages: AnalyzedPackage[];
  /** Folders of package.json files outside node_modules: the applications that use the packages. */
  applicationRoots: string[];
}

/** Reads package.json files: those of package folders in node_modules are packages, the others are application roots. */
export async function readNpmPackages(context: ReaderContext, manifests: FileNode[]): Promise<NpmResult> {
  const packages: AnalyzedPackage[] = [];
  const applicationRoots: string[] = [];

  for (const manifest of manifests) {
    const folder = parentOf(manifest.path);

    if (!folder.includes('/node_modules/')) {
      applicationRoots.push(folder);
      continue;
    }

    // Other package.json files inside a package, such as lib/esm/package.json that only sets
    // "type", describe no package.
    if (!PACKAGE_FOLDER.test(folder)) continue;

    const analyzed = await readManifest(context, manifest, folder);
    if (analyzed) packages.push(analyzed);
  }

  return { packages, applicationRoots };
}

async function readManifest(context: ReaderContext, manifest: FileNode, folder: string): Promise<AnalyzedPackage | undefined> {
  const text = await readKeptText(context, manifest.path);
  if (text === undefined) return undefined;

  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    context.warnings.push(`${manifest.path}: invalid JSON (${excerpt((error as Error).message, 100)}); package skipped`);
    return undefined;
  }

  const { name, version } = (document ?? {}) as { name?: unknown; version?: unknown };
  if (typeof name !== 'string' || !name || typeof version !== 'string' || !version) {
    context.warnings.push(`${manifest.path}: "name" and "version" must be non-empty strings; package skipped`);
    return undefined;
  }

  const scoped = /^(@[^/]+)\/(.+)$/.exec(name);
  let purl: string;
  try {
    purl = scoped ? buildPurl('npm', scoped[1], scoped[2]!, version) : buildPurl('npm', undefined, name, version);
  } catch (error) {
    context.warnings.push(`${manifest.path}: name "${excerpt(name)}" is not a valid package name (${(error as Error).message}); package skipped`);
    return undefined;
  }

  // Nested node_modules folders hold other packages, whose files are their own.
  const files = listFilesBelow(context.fs, folder, (path) => baseName(path) === 'node_modules');

  return {
    id: packageId(purl, folder),
    type: 'npm',
    name,
    version,
    purl,
    // npm writes package.json whenever it installs or replaces a package folder.
    layerIndex: manifest.layerIndex,
    source: manifest.path,
    location: folder,
    files: files.map((node) => node.path),
  };
}
