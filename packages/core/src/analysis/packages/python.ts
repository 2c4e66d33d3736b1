import { baseName, normalizePath, parentOf } from '../filesystem.ts';
import type { AnalyzedPackage, ContentSelector, FileNode } from '../model.ts';
import { buildPurl, findInstalledFiles, listFilesBelow, MiB, packageId, readKeptText, type ReaderContext } from './common.ts';
import { parseControlParagraphs } from './control-file.ts';

const DIST_INFO_FILE = /\.dist-info\/(?:METADATA|RECORD|top_level\.txt)$/;
const EGG_INFO_FILE = /\.egg-info(?:\/(?:PKG-INFO|top_level\.txt|installed-files\.txt))?$/;

export const pythonSelectors: ContentSelector[] = [{ maxBytes: 16 * MiB, keep: (path) => DIST_INFO_FILE.test(path) || EGG_INFO_FILE.test(path) }];

/** Tells whether the node is the metadata file of an installed distribution: name.dist-info/METADATA, name.egg-info/PKG-INFO, or a name.egg-info file. */
export function isPythonMetadata(node: FileNode): boolean {
  if (node.kind !== 'file') return false;
  return /\.dist-info\/METADATA$/.test(node.path) || /\.egg-info\/PKG-INFO$/.test(node.path) || node.path.endsWith('.egg-info');
}

/** PEP 503: lowercase, and every run of '-', '_' and '.' becomes one '-'. */
export function normalizePythonName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** Reads installed Python distributions from their metadata files. */
export async function readPythonPackages(context: ReaderContext, metadataFiles: FileNode[]): Promise<AnalyzedPackage[]> {
  const packages: AnalyzedPackage[] = [];

  for (const metadata of metadataFiles) {
    const analyzed = await readDistribution(context, metadata);
    if (analyzed) packages.push(analyzed);
  }

  return packages;
}

async function readDistribution(context: ReaderContext, metadata: FileNode): Promise<AnalyzedPackage | undefined> {
  const text = await readKeptText(context, metadata.path);
  if (text === undefined) return undefined;

  const [headers] = parseControlParagraphs(text, metadata.path, context.warnings, { firstOnly: true });
  const name = headers?.fields.get('name');
  const version = headers?.fields.get('version');
  if (!name || !version) {
    context.warnings.push(`${metadata.path}: no Name or Version header; distribution skipped`);
    return undefined;
  }

  // A single-file egg-info is itself the metadata; otherwise the metadata sits in the info folder.
  const infoFolder = metadata.path.endsWith('.egg-info') ? metadata.path : parentOf(metadata.path);
  const sitePackages = parentOf(infoFolder);
  const files = await readInstalledFiles(context, infoFolder, sitePackages);
  const normalized = normalizePythonName(name);
  const purl = buildPurl('pypi', undefined, normalized, version);

  return {
    id: packageId(purl, infoFolder),
    type: 'pypi',
    name,
    version,
    purl,
    // pip writes a new metadata folder for every install or upgrade, and removes the old one.
    layerIndex: metadata.layerIndex,
    source: metadata.path,
    location: infoFolder,
    files: files.map((node) => node.path),
  };
}

/**
 * Lists the distribution's files from RECORD (paths relative to site-packages) for dist-info,
 * installed-files.txt (relative to the egg-info folder) for egg-info, and otherwise the
 * top-level modules that top_level.txt names.
 */
async function readInstalledFiles(context: ReaderContext, infoFolder: string, sitePackages: string): Promise<FileNode[]> {
  const isFolder = context.fs.entry(infoFolder)?.kind !== 'file';
  if (!isFolder) return [context.fs.entry(infoFolder)!];

  const record = await readOptional(context, `${infoFolder}/RECORD`);
  if (record !== undefined) {
    const paths = parseRecord(record).map((path) => normalizePath(path, sitePackages));
    return findInstalledFiles(context.fs, paths);
  }

  const installedFiles = await readOptional(context, `${infoFolder}/installed-files.txt`);
  if (installedFiles !== undefined) {
    const paths = installedFiles.split('\n').map((line) => line.trim()).filter(Boolean).map((path) => normalizePath(path, infoFolder));
    return findInstalledFiles(context.fs, [...paths, ...listFilesBelow(context.fs, infoFolder).map((node) => node.path)]);
  }

  const topLevel = await readOptional(context, `${infoFolder}/top_level.txt`);
  const modules = (topLevel ?? '').split('\n').map((line) => line.trim()).filter(Boolean);
  const files = listFilesBelow(context.fs, infoFolder);

  for (const module of modules) {
    const folder = normalizePath(module.replace(/\./g, '/'), sitePackages);
    files.push(...listFilesBelow(context.fs, folder));

    // A top-level module may also be a single file: module.py or an extension such as module.cpython-311-x86_64-linux-gnu.so.
    for (const sibling of context.fs.list(parentOf(folder))) {
      const name = baseName(sibling.path);
      const isModuleFile = name === `${baseName(folder)}.py` || (name.startsWith(`${baseName(folder)}.`) && name.endsWith('.so'));
      if (sibling.kind !== 'directory' && isModuleFile) files.push(sibling);
    }
  }

  return files;
}

async function readOptional(context: ReaderContext, path: string): Promise<string | undefined> {
  return context.fs.entry(path) ? readKeptText(context, path) : undefined;
}

/** RECORD is CSV (PEP 376): path, hash, size; a path with a comma or quote is quoted with "". */
function parseRecord(text: string): string[] {
  const paths: string[] = [];

  for (const line of text.split('\n')) {
    if (!line.trim()) continue;

    if (line.startsWith('"')) {
      const match = /^"((?:[^"]|"")*)"/.exec(line);
      if (match) paths.push(match[1]!.replace(/""/g, '"'));
    } else {
      paths.push(line.slice(0, line.indexOf(',') < 0 ? line.length : line.indexOf(',')));
    }
  }

  return paths;
}
