import type { ImageFileSystem } from '../filesystem.ts';
import type { AnalyzedPackage, ContentInspector, ContentSelector, FileNode } from '../model.ts';
import { apkSelectors, readApkPackages } from './apk.ts';
import { sortPackages, type ReaderContext } from './common.ts';
import { dpkgSelectors, readDpkgPackages } from './dpkg.ts';
import { goBuildInfoInspector, GO_BUILD_INFO_INSPECTOR, readGoPackages } from './golang.ts';
import { javaArchiveInspector, JAVA_ARCHIVE_INSPECTOR, readJavaPackages } from './java.ts';
import { readNpmPackages, npmSelectors } from './npm.ts';
import { osReleaseSelector, readDistro } from './os-release.ts';
import { isPythonMetadata, pythonSelectors, readPythonPackages } from './python.ts';
import { readRpmPackages, rpmSelectors } from './rpm.ts';

export { normalizePythonName } from './python.ts';
export type { Distro } from './os-release.ts';
export type { GoBuildInfo } from './golang.ts';
export type { JavaArchiveFacts } from './java.ts';

/** The files the package readers read after the layers: package databases, os-release and language manifests. */
export const packageSelectors: ContentSelector[] = [osReleaseSelector, ...dpkgSelectors, ...apkSelectors, ...rpmSelectors, ...npmSelectors, ...pythonSelectors];

/** Inspectors that read packages out of files while the layers stream: Java archives and Go binaries. */
export const packageInspectors: ContentInspector[] = [javaArchiveInspector, goBuildInfoInspector];

export interface PackageReadResult {
  packages: AnalyzedPackage[];
  /** Folders of package.json files outside node_modules, which are the Node.js applications of the image. */
  applicationRoots: string[];
  warnings: string[];
}

/**
 * Reads every installed package of the image: the dpkg, apk and rpm databases, package.json
 * files in node_modules, Python dist-info and egg-info metadata, and the facts the inspectors
 * kept for Java archives and Go binaries. A malformed database or manifest adds a warning and
 * the rest still reads.
 */
export async function readPackages(fs: ImageFileSystem): Promise<PackageReadResult> {
  const context: ReaderContext = { fs, warnings: [] };
  context.distro = await readDistro(context);

  const manifests: FileNode[] = [];
  const pythonMetadata: FileNode[] = [];
  const archives: FileNode[] = [];
  const binaries: FileNode[] = [];

  for (const node of fs.entries()) {
    if (node.kind === 'file' && node.path.endsWith('/package.json')) manifests.push(node);
    if (isPythonMetadata(node)) pythonMetadata.push(node);
    if (node.facts?.[JAVA_ARCHIVE_INSPECTOR]) archives.push(node);
    if (node.facts?.[GO_BUILD_INFO_INSPECTOR]) binaries.push(node);
  }

  const npm = await readNpmPackages(context, manifests);
  const packages = [
    ...(await readDpkgPackages(context)),
    ...(await readApkPackages(context)),
    ...(await readRpmPackages(context)),
    ...npm.packages,
    ...(await readPythonPackages(context, pythonMetadata)),
    ...readJavaPackages(context, archives),
    ...readGoPackages(context, binaries),
  ];

  return { packages: sortPackages(distinctIds(packages)), applicationRoots: npm.applicationRoots, warnings: context.warnings };
}

/**
 * Makes ids unique. Two OS packages share an id only when dpkg has one package installed for two
 * architectures (Multi-Arch: same), so the architecture is appended to tell them apart.
 */
function distinctIds(packages: AnalyzedPackage[]): AnalyzedPackage[] {
  const counts = new Map<string, number>();
  for (const analyzed of packages) counts.set(analyzed.id, (counts.get(analyzed.id) ?? 0) + 1);

  for (const analyzed of packages) {
    if ((counts.get(analyzed.id) ?? 0) < 2) continue;
    const architecture = new URLSearchParams(analyzed.purl.split('?')[1] ?? '').get('arch');
    analyzed.id = `${analyzed.id}|${architecture ?? analyzed.source}`;
  }
  return packages;
}
