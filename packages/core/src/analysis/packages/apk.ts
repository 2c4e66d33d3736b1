import type { AnalyzedPackage, ContentSelector, FileNode } from '../model.ts';
import { buildPurl, earliestLayer, excerpt, findInstalledFiles, layerOf, MiB, packageId, readKeptText, type ReaderContext } from './common.ts';

const INSTALLED_FILE = '/lib/apk/db/installed';

export const apkSelectors: ContentSelector[] = [{ maxBytes: 64 * MiB, keep: (path) => path === INSTALLED_FILE }];

interface ApkRecord {
  line: number;
  name?: string;
  version?: string;
  architecture?: string;
  origin?: string;
  files: string[];
}

/**
 * Parses apk-tools' installed database: one block per package, separated by blank lines, of
 * "<letter>:<value>" lines. P is the name, V the version, A the architecture, o the origin
 * (source) package, F a folder relative to the root and R a file in the last F folder.
 */
export function parseApkInstalled(text: string, file: string, warnings: string[]): ApkRecord[] {
  const records: ApkRecord[] = [];
  const lines = text.split('\n');
  let current: ApkRecord | undefined;
  let folder = '';

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.replace(/\r$/, '');

    if (line === '') {
      if (current) records.push(current);
      current = undefined;
      folder = '';
      continue;
    }

    if (line[1] !== ':') {
      warnings.push(`${file}:${index + 1}: expected "<letter>:<value>", found "${excerpt(line)}"`);
      continue;
    }

    current ??= { line: index + 1, files: [] };
    const value = line.slice(2);

    switch (line[0]) {
      case 'P':
        current.name = value;
        break;
      case 'V':
        current.version = value;
        break;
      case 'A':
        current.architecture = value;
        break;
      case 'o':
        current.origin = value;
        break;
      case 'F':
        folder = value;
        break;
      case 'R':
        current.files.push(folder ? `/${folder}/${value}` : `/${value}`);
        break;
    }
  }

  if (current) records.push(current);
  return records;
}

/** Reads /lib/apk/db/installed. */
export async function readApkPackages(context: ReaderContext): Promise<AnalyzedPackage[]> {
  const text = await readKeptText(context, INSTALLED_FILE);
  if (text === undefined) return [];

  const databaseNode = context.fs.entry(INSTALLED_FILE);
  const packages: AnalyzedPackage[] = [];

  for (const record of parseApkInstalled(text, INSTALLED_FILE, context.warnings)) {
    if (!record.name || !record.version) {
      context.warnings.push(`${INSTALLED_FILE}:${record.line}: package without a P (name) or V (version) line; skipped`);
      continue;
    }

    const files = findInstalledFiles(context.fs, record.files);
    const distro = context.distro;
    const purl = buildPurl('apk', distro?.id ?? 'alpine', record.name, record.version, { arch: record.architecture, distro: distro?.qualifier });

    packages.push({
      id: packageId(purl),
      type: 'apk',
      name: record.name,
      version: record.version,
      purl,
      layerIndex: installLayer(files, layerOf(databaseNode, 0)),
      source: INSTALLED_FILE,
      files: files.map((node) => node.path),
      sourceName: record.origin ?? record.name,
      sourceVersion: record.version,
      distro: distro?.qualifier,
    });
  }

  return packages;
}

/**
 * apk keeps no per-package record file, so the package's own files decide: installing or
 * upgrading a package writes all of them, so the earliest layer among them is the layer that
 * installed the present version. Files under /etc are left out when others exist, because a later
 * layer often edits a configuration file, and because apk keeps a locally changed one on upgrade.
 * A package without files (a metapackage) gets the database's layer, the latest layer that could
 * have installed it.
 */
export function installLayer(files: FileNode[], databaseLayer: number, isConfiguration: (node: FileNode) => boolean = (node) => node.path.startsWith('/etc/')): number {
  const programFiles = files.filter((node) => !isConfiguration(node));
  return earliestLayer(programFiles.length ? programFiles : files) ?? databaseLayer;
}
