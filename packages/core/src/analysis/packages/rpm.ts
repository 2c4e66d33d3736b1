import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

import initSqlJs, { type SqlJsStatic } from 'sql.js';

import type { AnalyzedPackage, ContentSelector, FileNode } from '../model.ts';
import { installLayer } from './apk.ts';
import { buildPurl, findInstalledFiles, layerOf, MiB, packageId, readKeptBytes, type ReaderContext } from './common.ts';
import { RpmHeader, RpmHeaderError, RpmTag } from './rpm-header.ts';

/** rpm 4.16 and later keep an sqlite database; Fedora 36+ and openSUSE moved it to /usr/lib/sysimage/rpm. */
const SQLITE_DATABASES = ['/var/lib/rpm/rpmdb.sqlite', '/usr/lib/sysimage/rpm/rpmdb.sqlite'];

/** Older formats, which are found but not read: Berkeley DB (RHEL 8 and earlier) and rpm's own ndb (SUSE). */
const UNSUPPORTED_DATABASES = ['/var/lib/rpm/Packages', '/var/lib/rpm/Packages.db', '/usr/lib/sysimage/rpm/Packages.db'];

/** RPMFILE_CONFIG in rpm's FILEFLAGS (lib/rpmfiles.h): the file is a %config file. */
const RPMFILE_CONFIG = 1;

export const rpmSelectors: ContentSelector[] = [{ maxBytes: 512 * MiB, keep: (path) => SQLITE_DATABASES.includes(path) }];

let sqlJs: Promise<SqlJsStatic> | undefined;

/** Loads sql.js once per process, from the wasm file in the installed package. */
function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJs ??= (async () => {
    const wasmPath = createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm');
    const wasm = await readFile(wasmPath);
    return initSqlJs({ wasmBinary: wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) as ArrayBuffer });
  })();
  return sqlJs;
}

/** Reads the sqlite rpmdb. */
export async function readRpmPackages(context: ReaderContext): Promise<AnalyzedPackage[]> {
  for (const path of UNSUPPORTED_DATABASES) {
    if (context.fs.resolve(path)?.kind === 'file') {
      context.warnings.push(`${path}: this rpm database format (Berkeley DB or ndb) is not supported; only rpmdb.sqlite (rpm 4.16 and later) is read, so its packages are missing`);
    }
  }

  const packages: AnalyzedPackage[] = [];
  const read = new Set<string>();
  for (const path of SQLITE_DATABASES) {
    // Fedora links /var/lib/rpm to /usr/lib/sysimage/rpm, so both paths can name one database.
    const node = context.fs.resolve(path);
    if (node?.kind !== 'file' || read.has(node.path)) continue;
    read.add(node.path);

    const content = await readKeptBytes(context, path);
    if (content) packages.push(...(await readSqliteDatabase(context, path, content, node)));
  }
  return packages;
}

async function readSqliteDatabase(context: ReaderContext, path: string, content: Buffer, databaseNode: FileNode): Promise<AnalyzedPackage[]> {
  const SQL = await loadSqlJs();
  let database;
  let rows: [unknown, unknown][];

  try {
    database = new SQL.Database(content);
    const result = database.exec('SELECT hnum, blob FROM Packages ORDER BY hnum');
    rows = (result[0]?.values ?? []) as [unknown, unknown][];
  } catch (error) {
    context.warnings.push(`${path}: not a readable rpm sqlite database (${(error as Error).message}); its packages are missing`);
    return [];
  } finally {
    database?.close();
  }

  const packages: AnalyzedPackage[] = [];
  for (const [headerNumber, blob] of rows) {
    if (!(blob instanceof Uint8Array)) {
      context.warnings.push(`${path}: Packages row ${String(headerNumber)} has no header blob; skipped`);
      continue;
    }

    try {
      const analyzed = toPackage(context, new RpmHeader(blob), path, databaseNode);
      if (analyzed) packages.push(analyzed);
    } catch (error) {
      if (!(error instanceof RpmHeaderError)) throw error;
      context.warnings.push(`${path}: Packages row ${String(headerNumber)}: ${error.message}; skipped`);
    }
  }
  return packages;
}

function toPackage(context: ReaderContext, header: RpmHeader, path: string, databaseNode: FileNode): AnalyzedPackage | undefined {
  const name = header.string(RpmTag.NAME);
  const version = header.string(RpmTag.VERSION);
  const release = header.string(RpmTag.RELEASE);
  if (!name || !version || release === undefined) throw new RpmHeaderError('header without NAME, VERSION or RELEASE');

  // gpg-pubkey entries are the keys rpm trusts, stored as pseudo-packages without files.
  if (name === 'gpg-pubkey') return undefined;

  const epoch = header.int32Array(RpmTag.EPOCH)[0];
  const architecture = header.string(RpmTag.ARCH);
  const versionRelease = `${version}-${release}`;
  const { files, configuration } = readFiles(context, header);
  const distro = context.distro;
  const purl = buildPurl('rpm', distro?.id, name, versionRelease, { arch: architecture, epoch: epoch === undefined ? undefined : String(epoch), distro: distro?.qualifier });
  const source = parseSourceRpm(header.string(RpmTag.SOURCERPM));

  return {
    id: packageId(purl),
    type: 'rpm',
    name,
    version: epoch === undefined ? versionRelease : `${epoch}:${versionRelease}`,
    purl,
    // As for apk: the earliest layer among the package's files, leaving out %config files, which
    // rpm keeps on upgrade when they were changed and which later layers often edit.
    layerIndex: installLayer(files, layerOf(databaseNode, 0), (node) => configuration.has(node.path)),
    source: path,
    files: files.map((node) => node.path),
    sourceName: source?.name,
    sourceVersion: source?.version,
    distro: distro?.qualifier,
  };
}

/** Finds the package's files, whose paths are DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]. */
function readFiles(context: ReaderContext, header: RpmHeader): { files: FileNode[]; configuration: Set<string> } {
  const baseNames = header.stringArray(RpmTag.BASENAMES);
  const dirNames = header.stringArray(RpmTag.DIRNAMES);
  const dirIndexes = header.int32Array(RpmTag.DIRINDEXES);
  const flags = header.int32Array(RpmTag.FILEFLAGS);

  if (dirIndexes.length !== baseNames.length) throw new RpmHeaderError(`${baseNames.length} BASENAMES but ${dirIndexes.length} DIRINDEXES`);

  const paths: string[] = [];
  const configurationPaths: string[] = [];
  for (let index = 0; index < baseNames.length; index++) {
    const dirName = dirNames[dirIndexes[index]!];
    if (dirName === undefined) throw new RpmHeaderError(`DIRINDEXES[${index}] = ${dirIndexes[index]} is outside the ${dirNames.length} DIRNAMES`);

    const path = `${dirName}${baseNames[index]}`;
    paths.push(path);
    if ((flags[index] ?? 0) & RPMFILE_CONFIG) configurationPaths.push(path);
  }

  const files = findInstalledFiles(context.fs, paths);
  const configuration = new Set(findInstalledFiles(context.fs, configurationPaths).map((node) => node.path));
  return { files, configuration };
}

/** "openssl-1.1.1k-8.el8_6.src.rpm" is name "openssl", version "1.1.1k-8.el8_6". */
function parseSourceRpm(sourceRpm: string | undefined): { name: string; version: string } | undefined {
  const match = sourceRpm ? /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(sourceRpm) : null;
  if (!match) return undefined;
  return { name: match[1]!, version: `${match[2]}-${match[3]}` };
}
