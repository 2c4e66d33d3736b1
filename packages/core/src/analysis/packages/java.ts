import { unzipSync, type UnzipFileInfo } from 'fflate';

import { baseName } from '../filesystem.ts';
import type { AnalyzedPackage, ContentInspector, FileNode } from '../model.ts';
import { buildPurl, excerpt, MiB, packageId, type ReaderContext } from './common.ts';

export const JAVA_ARCHIVE_INSPECTOR = 'java-archive';

/** Spring Boot puts libraries in BOOT-INF/lib, web archives in WEB-INF/lib, ears one level up; two levels cover those. */
const MAX_NESTING = 2;
/** Keeps the facts of one archive small even for a shaded jar with thousands of embedded poms. */
const MAX_ARTIFACTS = 2000;
/** A nested archive or metadata file larger than this is skipped, which also bounds a zip bomb's output. */
const MAX_ENTRY_BYTES = 128 * MiB;

/** One artifact found in an archive. */
export interface JavaArtifact {
  /** The nested archive it came from, relative to the outer archive, for example 'BOOT-INF/lib/spring-core-6.1.2.jar'; absent for the archive itself. */
  nestedPath?: string;
  groupId?: string;
  artifactId: string;
  version: string;
  /** 'pom.properties', or 'manifest' when the archive carries no pom.properties. */
  from: 'pom.properties' | 'manifest';
}

export interface JavaArchiveFacts {
  artifacts: JavaArtifact[];
  /** Read failures of the archive or of its nested archives. */
  errors?: string[];
}

const ARCHIVE_NAME = /\.(?:jar|war|ear|jpi|hpi)$/i;
const POM_PROPERTIES = /^META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/;
const MANIFEST = 'META-INF/MANIFEST.MF';

export const javaArchiveInspector: ContentInspector<JavaArchiveFacts> = {
  name: JAVA_ARCHIVE_INSPECTOR,
  maxBytes: 256 * MiB,
  // The name alone decides, so that an archive fflate cannot read, such as a Spring Boot jar with
  // a launch script before the zip data, gets a warning instead of being skipped silently.
  wants: (path) => ARCHIVE_NAME.test(path),
  inspect: (path, content) => inspectJavaArchive(path, content),
};

/** Reads pom.properties and MANIFEST.MF from a zip archive and its nested archives. */
export function inspectJavaArchive(archivePath: string, content: Uint8Array): JavaArchiveFacts {
  const facts: JavaArchiveFacts = { artifacts: [] };
  collectArtifacts(archivePath, content, undefined, 0, facts);
  return facts;
}

function collectArtifacts(archivePath: string, content: Uint8Array, nestedPath: string | undefined, depth: number, facts: JavaArchiveFacts): void {
  const nestedArchives: UnzipFileInfo[] = [];
  let entries: Record<string, Uint8Array>;

  try {
    // The first pass inflates only the metadata. Nested archives are inflated one at a time
    // below, so at most one of them is in memory at once.
    entries = unzipSync(content, {
      filter: (file) => {
        if (file.originalSize > MAX_ENTRY_BYTES) return false;
        if (depth < MAX_NESTING && ARCHIVE_NAME.test(file.name)) nestedArchives.push(file);
        return POM_PROPERTIES.test(file.name) || file.name === MANIFEST;
      },
    });
  } catch (error) {
    addError(facts, `${nestedPath ?? 'archive'}: ${(error as Error).message}`);
    return;
  }

  const fromPoms = Object.entries(entries)
    .filter(([name]) => POM_PROPERTIES.test(name))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, data]) => artifactFromPom(parseProperties(Buffer.from(data).toString('utf8'))))
    .filter((artifact): artifact is Omit<JavaArtifact, 'nestedPath' | 'from'> => artifact !== undefined);

  if (fromPoms.length) {
    for (const artifact of fromPoms) addArtifact(facts, { ...artifact, nestedPath, from: 'pom.properties' });
  } else if (entries[MANIFEST]) {
    const artifact = artifactFromManifest(parseManifest(Buffer.from(entries[MANIFEST]).toString('utf8')), nestedPath ?? archivePath);
    if (artifact) addArtifact(facts, { ...artifact, nestedPath, from: 'manifest' });
  }

  for (const file of nestedArchives) {
    const innerPath = nestedPath ? `${nestedPath}!/${file.name}` : file.name;
    let inner: Uint8Array | undefined;
    try {
      inner = unzipSync(content, { filter: (candidate) => candidate.name === file.name })[file.name];
    } catch (error) {
      addError(facts, `${innerPath}: ${(error as Error).message}`);
      continue;
    }
    if (inner && inner.length >= 4 && Buffer.from(inner.buffer, inner.byteOffset, 4).readUInt32LE(0) === 0x04034b50) collectArtifacts(archivePath, inner, innerPath, depth + 1, facts);
  }
}

function addArtifact(facts: JavaArchiveFacts, artifact: JavaArtifact): void {
  if (facts.artifacts.length < MAX_ARTIFACTS) facts.artifacts.push(artifact);
  else if (facts.artifacts.length === MAX_ARTIFACTS) addError(facts, `more than ${MAX_ARTIFACTS} artifacts; the rest are not listed`);
}

function addError(facts: JavaArchiveFacts, message: string): void {
  (facts.errors ??= []).push(excerpt(message, 200));
}

/** Java properties: "key=value" or "key: value" lines; '#' and '!' start comments. */
function parseProperties(text: string): Map<string, string> {
  const properties = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;

    const match = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (match) properties.set(match[1]!, match[2]!.trim());
  }
  return properties;
}

/** The main section of a manifest (JAR File Specification): "Name: value" lines, continued by lines that start with one space. */
function parseManifest(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  let last: string | undefined;

  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (line.startsWith(' ') && last) {
      attributes.set(last, `${attributes.get(last)}${line.slice(1)}`);
      continue;
    }

    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim();
    attributes.set(last, line.slice(colon + 1).trim());
  }
  return attributes;
}

function artifactFromPom(properties: Map<string, string>): Omit<JavaArtifact, 'nestedPath' | 'from'> | undefined {
  const artifactId = properties.get('artifactId');
  const version = properties.get('version');
  if (!artifactId || !version) return undefined;
  return { groupId: properties.get('groupId') || undefined, artifactId, version };
}

/**
 * Reads an artifact from the manifest, for archives without pom.properties. The version is Implementation-Version or
 * the OSGi Bundle-Version. The artifact is the archive's file name without its version, since
 * titles are often prose ("Apache Commons IO"). The group is Implementation-Vendor-Id,
 * Bundle-SymbolicName or Automatic-Module-Name.
 */
function artifactFromManifest(attributes: Map<string, string>, archivePath: string): Omit<JavaArtifact, 'nestedPath' | 'from'> | undefined {
  const version = attributes.get('Implementation-Version') ?? attributes.get('Bundle-Version');
  if (!version) return undefined;

  const stem = baseName(archivePath).replace(ARCHIVE_NAME, '');
  const artifactId = stem.endsWith(`-${version}`) ? stem.slice(0, -version.length - 1) : stem.replace(/-\d[^/]*$/, '');
  const groupId = attributes.get('Implementation-Vendor-Id') ?? attributes.get('Bundle-SymbolicName')?.split(';')[0]?.trim() ?? attributes.get('Automatic-Module-Name');
  return artifactId ? { groupId: groupId || undefined, artifactId, version } : undefined;
}

/** Turns the facts of every Java archive in the image into packages. */
export function readJavaPackages(context: ReaderContext, archives: FileNode[]): AnalyzedPackage[] {
  const packages: AnalyzedPackage[] = [];

  for (const archive of archives) {
    const facts = archive.facts?.[JAVA_ARCHIVE_INSPECTOR] as JavaArchiveFacts | undefined;
    if (!facts) continue;

    for (const error of facts.errors ?? []) context.warnings.push(`${archive.path}: ${error}`);

    for (const artifact of facts.artifacts) {
      const location = artifact.nestedPath ? `${archive.path}!/${artifact.nestedPath}` : archive.path;
      let purl: string;
      try {
        purl = buildPurl('maven', artifact.groupId, artifact.artifactId, artifact.version);
      } catch (error) {
        context.warnings.push(`${location}: artifact "${excerpt(artifact.artifactId)}" has no valid package URL (${(error as Error).message}); skipped`);
        continue;
      }

      packages.push({
        id: packageId(purl, location),
        type: 'maven',
        name: artifact.groupId ? `${artifact.groupId}:${artifact.artifactId}` : artifact.artifactId,
        version: artifact.version,
        purl,
        layerIndex: archive.layerIndex,
        source: archive.path,
        location,
        files: [archive.path],
      });
    }
  }

  return packages;
}
