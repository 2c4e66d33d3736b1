import type { AnalyzedPackage, ContentSelector, FileNode } from '../model.ts';
import { buildPurl, findInstalledFiles, layerOf, MiB, packageId, readKeptText, type ReaderContext } from './common.ts';
import { parseControlParagraphs, type ControlParagraph } from './control-file.ts';

const STATUS_FILE = '/var/lib/dpkg/status';
const STATUS_FOLDER = '/var/lib/dpkg/status.d';
const INFO_FOLDER = '/var/lib/dpkg/info';

export const dpkgSelectors: ContentSelector[] = [
  { maxBytes: 64 * MiB, keep: (path) => path === STATUS_FILE },
  // Distroless images keep one control file per package here, and an md5sums file beside it.
  { maxBytes: 16 * MiB, keep: (path) => path.startsWith(`${STATUS_FOLDER}/`) },
  { maxBytes: 16 * MiB, keep: (path) => path.startsWith(`${INFO_FOLDER}/`) && path.endsWith('.list') },
];

/**
 * States from the third word of the Status field (dpkg(1), "Package states"). `installed` and the
 * two trigger states count as installed, because dpkg enters a trigger state only after it has
 * unpacked the package. `not-installed` and `config-files` are removed packages. The states
 * `half-installed`, `unpacked` and `half-configured` come from an interrupted install or removal.
 * Such packages are not reported, but each gets a warning because its files may be on disk.
 */
const INSTALLED_STATES = new Set(['installed', 'triggers-awaited', 'triggers-pending']);
const REMOVED_STATES = new Set(['not-installed', 'config-files']);

interface DpkgRecord {
  paragraph: ControlParagraph;
  /** The file the paragraph came from: the status file or a status.d file. */
  source: string;
  sourceNode: FileNode | undefined;
}

/** Reads /var/lib/dpkg/status and the distroless /var/lib/dpkg/status.d folder. */
export async function readDpkgPackages(context: ReaderContext): Promise<AnalyzedPackage[]> {
  const records = [...(await readStatusFile(context)), ...(await readStatusFolder(context))];
  const packages: AnalyzedPackage[] = [];
  let withoutRecords = 0;

  for (const record of records) {
    const analyzed = await toPackage(context, record);
    if (!analyzed) continue;

    packages.push(analyzed.package);
    if (!analyzed.hasOwnRecord) withoutRecords++;
  }

  if (withoutRecords) {
    context.warnings.push(
      `${STATUS_FILE}: ${withoutRecords} installed packages have no ${INFO_FOLDER}/<package>.list or .md5sums, so their files are unknown and their layer is the layer of the status file, the latest layer that could have installed them`,
    );
  }

  return packages;
}

async function readStatusFile(context: ReaderContext): Promise<DpkgRecord[]> {
  const text = await readKeptText(context, STATUS_FILE);
  if (text === undefined) return [];

  const sourceNode = context.fs.entry(STATUS_FILE);
  return parseControlParagraphs(text, STATUS_FILE, context.warnings).map((paragraph) => ({ paragraph, source: STATUS_FILE, sourceNode }));
}

async function readStatusFolder(context: ReaderContext): Promise<DpkgRecord[]> {
  const records: DpkgRecord[] = [];

  for (const node of context.fs.list(STATUS_FOLDER)) {
    if (node.kind !== 'file' || node.path.endsWith('.md5sums')) continue;

    const text = await readKeptText(context, node.path);
    if (text === undefined) continue;

    for (const paragraph of parseControlParagraphs(text, node.path, context.warnings)) {
      records.push({ paragraph, source: node.path, sourceNode: node });
    }
  }

  return records;
}

async function toPackage(context: ReaderContext, record: DpkgRecord): Promise<{ package: AnalyzedPackage; hasOwnRecord: boolean } | undefined> {
  const { paragraph, source } = record;
  const where = `${source}:${paragraph.line}`;
  const name = paragraph.fields.get('package');
  const version = paragraph.fields.get('version');

  if (!name) {
    context.warnings.push(`${where}: paragraph without a Package field; skipped`);
    return undefined;
  }

  if (!isInstalled(context, paragraph, where, name)) return undefined;

  if (!version) {
    context.warnings.push(`${where}: package ${name} has no Version field; skipped`);
    return undefined;
  }

  const architecture = paragraph.fields.get('architecture');
  const { files, recordNode } = await readOwnRecord(context, name, architecture, source);
  const distro = context.distro;
  const purl = buildPurl('deb', distro?.id ?? 'debian', name, version, { arch: architecture, distro: distro?.qualifier });
  const [sourceName, sourceVersion] = parseSourceField(paragraph.fields.get('source'), name, version);

  // The package's own record (info/<package>.list, .md5sums, or its status.d file) is written
  // only when dpkg unpacks that package, so its layer is the layer that installed or last upgraded
  // it. The package's files are not used, because a later layer that edits one of its
  // configuration files does not reinstall it. The shared status file is the last resort: every
  // layer that installs anything rewrites it.
  const layerIndex = layerOf(recordNode ?? record.sourceNode, 0);

  return {
    hasOwnRecord: recordNode !== undefined || source !== STATUS_FILE,
    package: {
      id: packageId(purl),
      type: 'deb',
      name,
      version,
      purl,
      layerIndex,
      source,
      files: files.map((node) => node.path),
      sourceName,
      sourceVersion,
      distro: distro?.qualifier,
    },
  };
}

function isInstalled(context: ReaderContext, paragraph: ControlParagraph, where: string, name: string): boolean {
  const status = paragraph.fields.get('status');

  // status.d files of distroless images carry no Status field: each file is an installed package.
  if (status === undefined) {
    if (where.startsWith(STATUS_FOLDER)) return true;
    context.warnings.push(`${where}: package ${name} has no Status field; skipped`);
    return false;
  }

  const state = status.split(/\s+/)[2];
  if (state && INSTALLED_STATES.has(state)) return true;
  if (state && REMOVED_STATES.has(state)) return false;

  context.warnings.push(`${where}: package ${name} has Status "${status}", so its files may be on disk but it is not reported as installed`);
  return false;
}

/**
 * Finds the package's file list: info/<name>:<arch>.list for Multi-Arch: same packages,
 * info/<name>.list otherwise, then info/<name>.md5sums, and status.d/<name>.md5sums on distroless.
 */
async function readOwnRecord(context: ReaderContext, name: string, architecture: string | undefined, source: string): Promise<{ files: FileNode[]; recordNode?: FileNode }> {
  const listCandidates = [architecture ? `${INFO_FOLDER}/${name}:${architecture}.list` : undefined, `${INFO_FOLDER}/${name}.list`];

  for (const path of listCandidates) {
    const node = path ? context.fs.entry(path) : undefined;
    if (!node || !path) continue;

    const text = await readKeptText(context, path);
    const paths = (text ?? '').split('\n').filter((line) => line.startsWith('/'));
    return { files: findInstalledFiles(context.fs, paths), recordNode: node };
  }

  const md5sumsCandidates = [
    architecture ? `${INFO_FOLDER}/${name}:${architecture}.md5sums` : undefined,
    `${INFO_FOLDER}/${name}.md5sums`,
    source === STATUS_FILE ? undefined : `${source}.md5sums`,
    source === STATUS_FILE ? undefined : `${STATUS_FOLDER}/${name}.md5sums`,
  ];

  for (const path of md5sumsCandidates) {
    const node = path ? context.fs.entry(path) : undefined;
    if (!node || !path) continue;

    // info/*.md5sums is not kept (it is only used for its layer); status.d/*.md5sums is.
    const text = path.startsWith(STATUS_FOLDER) ? await readKeptText(context, path) : undefined;
    return { files: findInstalledFiles(context.fs, parseMd5sums(text ?? '')), recordNode: node };
  }

  return { files: [] };
}

/**
 * Parses md5sums lines: "<32 hex digits>  <path relative to the root>".
 * NOTE: md5sums lists regular files only, so a distroless package's symlinks and conffiles are missing from its files.
 */
function parseMd5sums(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^[0-9a-f]{32}\s+\*?(.+)$/i.exec(line.trimEnd());
    if (match) paths.push(`/${match[1]!.replace(/^\/+/, '')}`);
  }
  return paths;
}

/** "Source: openssl (3.0.11-1)" names the source package and, when it differs, its version. */
function parseSourceField(field: string | undefined, name: string, version: string): [string, string] {
  if (!field) return [name, version];

  const match = /^(\S+)(?:\s+\(([^)]+)\))?/.exec(field);
  if (!match) return [name, version];
  return [match[1]!, match[2] ?? version];
}
