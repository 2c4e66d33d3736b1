import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { readPackages } from './index.ts';
import { buildImage, type Layer, type LayerEntry } from './test-image.ts';

const INSTALLED = '/lib/apk/db/installed';
// The first ten records of a real Alpine 3.14 installed database; see test/fixtures/SOURCES.md.
const fixture = readFileSync(new URL('../../../../../test/fixtures/content/alpine-3.14-armv7.apk-installed', import.meta.url), 'utf8');
const OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.14.2\nPRETTY_NAME="Alpine Linux v3.14"\n';

/** Splits the database text into records, keyed by package name. */
function recordsOf(text: string): Map<string, string> {
  return new Map(text.split('\n\n').filter((record) => record.trim()).map((record) => [/^P:(.*)$/m.exec(record)![1]!, record]));
}

/** Lists the files of a record from its F: (folder) and R: (file) lines. */
function filesOf(record: string): string[] {
  const files: string[] = [];
  let folder = '';
  for (const line of record.split('\n')) {
    if (line.startsWith('F:')) folder = line.slice(2);
    if (line.startsWith('R:')) files.push(`/${folder}/${line.slice(2)}`);
  }
  return files;
}

function baseLayer(): Layer {
  const layer: Layer = new Map<string, LayerEntry>([
    ['/etc/os-release', OS_RELEASE],
    [INSTALLED, fixture],
  ]);
  for (const record of recordsOf(fixture).values()) for (const path of filesOf(record)) layer.set(path, `content of ${path}`);
  return layer;
}

function withRecords(records: string[]): string {
  return `${records.join('\n\n')}\n\n`;
}

describe('apk packages', () => {
  it('reads the real installed database', async () => {
    const { packages, warnings } = await readPackages(buildImage([baseLayer()]));
    const libssl = packages.find((candidate) => candidate.name === 'libssl1.1');
    const libcUtils = packages.find((candidate) => candidate.name === 'libc-utils');

    expect(warnings).toEqual([]);
    expect(packages.map((candidate) => candidate.name).sort()).toEqual([...recordsOf(fixture).keys()].sort());
    expect(libssl?.version).toBe('1.1.1k-r0');
    expect(libssl?.purl).toBe('pkg:apk/alpine/libssl1.1@1.1.1k-r0?arch=armv7&distro=alpine-3.14.2');
    expect(libssl?.sourceName).toBe('openssl');
    expect(libssl?.files).toEqual(['/lib/libssl.so.1.1', '/usr/lib/libssl.so.1.1']);
    expect(libcUtils?.files).toEqual([]);
  });

  it('places an upgrade and keeps edited config', async () => {
    const records = recordsOf(fixture);
    const upgraded = records.get('libssl1.1')!.replace('V:1.1.1k-r0', 'V:1.1.1l-r0');
    const upgrade: Layer = new Map<string, LayerEntry>([
      [INSTALLED, withRecords([...records.values()].map((record) => (record.startsWith('C:Q1okgvkw') ? upgraded : record)))],
      ...filesOf(upgraded).map((path): [string, string] => [path, 'upgraded']),
      ['/etc/ssl/openssl.cnf', 'edited by the application'],
    ]);

    const { packages } = await readPackages(buildImage([baseLayer(), upgrade]));
    const byName = new Map(packages.map((candidate) => [candidate.name, candidate]));

    expect(byName.get('libssl1.1')?.version).toBe('1.1.1l-r0');
    expect(byName.get('libssl1.1')?.layerIndex).toBe(1);
    expect(byName.get('libcrypto1.1')?.layerIndex).toBe(0);
    expect(byName.get('musl')?.layerIndex).toBe(0);
    // A package without files can only be placed at the database's layer.
    expect(byName.get('libc-utils')?.layerIndex).toBe(1);
  });

  it('drops a package removed later', async () => {
    const records = recordsOf(fixture);
    const zlibFiles = filesOf(records.get('zlib')!);
    records.delete('zlib');
    const removal: Layer = new Map<string, string | null>([[INSTALLED, withRecords([...records.values()])], ...zlibFiles.map((path): [string, null] => [path, null])]);

    const { packages } = await readPackages(buildImage([baseLayer(), removal]));

    expect(packages.find((candidate) => candidate.name === 'zlib')).toBeUndefined();
    expect(packages).toHaveLength(records.size);
  });

  it('warns on malformed records', async () => {
    const records = [...recordsOf(fixture).values()];
    const broken = [records[0]!, `${records[1]!}\nnot a field line`, records[2]!.replace(/^V:.*\n/m, '')];
    const text = withRecords(broken);
    const brokenLine = text.split('\n').indexOf('not a field line') + 1;
    const missingVersionLine = text.split('\n').indexOf(broken[2]!.split('\n')[0]!) + 1;

    const { packages, warnings } = await readPackages(buildImage([new Map([[INSTALLED, text]])]));

    expect(packages.map((candidate) => candidate.name)).toEqual(['alpine-keys', 'musl']);
    expect(warnings).toEqual([
      `${INSTALLED}:${brokenLine}: expected "<letter>:<value>", found "not a field line"`,
      `${INSTALLED}:${missingVersionLine}: package without a P (name) or V (version) line; skipped`,
    ]);
  });
});
