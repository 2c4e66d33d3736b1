import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import initSqlJs from 'sql.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readPackages } from './index.ts';
import { buildImage, type Layer, type LayerEntry } from './test-image.ts';

// Debian's `rpm` package provides rpm and rpmbuild; without them these tests are skipped.
const hasRpm = ['/usr/bin/rpm', '/usr/bin/rpmbuild'].every((path) => existsSync(path));
const DATABASE = '/var/lib/rpm/rpmdb.sqlite';
const OS_RELEASE = 'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n';

interface PackageSpec {
  name: string;
  version: string;
  epoch?: number;
  files: Record<string, string>;
  configFiles?: string[];
}

let work: string;
let root: string;

/** Builds a noarch rpm with rpmbuild and returns its path. */
function buildRpm(spec: PackageSpec): string {
  const install = Object.entries(spec.files)
    .map(([path, content]) => `mkdir -p %{buildroot}$(dirname ${path}) && printf '%s' '${content}' > %{buildroot}${path}`)
    .join('\n');
  const files = Object.keys(spec.files)
    .map((path) => (spec.configFiles?.includes(path) ? `%config(noreplace) ${path}` : path))
    .join('\n');
  const specText = [
    `Name: ${spec.name}`,
    `Version: ${spec.version}`,
    'Release: 1',
    ...(spec.epoch === undefined ? [] : [`Epoch: ${spec.epoch}`]),
    'Summary: package for the rpmdb reader tests',
    'License: MIT',
    'BuildArch: noarch',
    '%description',
    'Package for the rpmdb reader tests.',
    '%install',
    install,
    '%files',
    files,
  ].join('\n');

  const specPath = join(work, `${spec.name}-${spec.version}.spec`);
  writeFileSync(specPath, `${specText}\n`);
  execFileSync('rpmbuild', ['--define', `_topdir ${join(work, 'build')}`, '-bb', specPath], { stdio: 'pipe' });
  return join(work, 'build', 'RPMS', 'noarch', `${spec.name}-${spec.version}-1.noarch.rpm`);
}

function rpm(...args: string[]): void {
  execFileSync('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', ...args], { stdio: 'pipe' });
}

/** Copies the database as it is now, the way a layer captures it. */
function snapshotDatabase(): Buffer {
  return readFileSync(join(root, DATABASE));
}

const first = { name: 'stratum-server', version: '1.0', epoch: 2, files: { '/usr/bin/stratum-server': 'server 1.0', '/etc/stratum-server.conf': 'port=1' }, configFiles: ['/etc/stratum-server.conf'] };
const second = { ...first, version: '2.0', files: { '/usr/bin/stratum-server': 'server 2.0', '/etc/stratum-server.conf': 'port=1' } };
const helper = { name: 'stratum-helper', version: '0.3', files: { '/usr/lib/stratum/helper.so': 'helper' } };

describe.skipIf(!hasRpm)('rpm packages', () => {
  const databases: Buffer[] = [];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'stratum-rpm-'));
    root = join(work, 'root');
    mkdirSync(root);
    const rpms = [buildRpm(first), buildRpm(second), buildRpm(helper)];

    rpm('--initdb');
    rpm('-i', '--nodeps', '--nosignature', rpms[0]!, rpms[2]!);
    databases.push(snapshotDatabase());
    rpm('-U', '--nodeps', '--nosignature', rpms[1]!);
    databases.push(snapshotDatabase());
    rpm('-e', '--nodeps', helper.name);
    databases.push(snapshotDatabase());
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  function baseLayer(): Layer {
    return new Map<string, string | Buffer>([['/etc/os-release', OS_RELEASE], [DATABASE, databases[0]!], ...Object.entries(first.files), ...Object.entries(helper.files)]);
  }

  it('reads a real sqlite rpmdb', async () => {
    const { packages, warnings } = await readPackages(buildImage([baseLayer()]));
    const server = packages.find((candidate) => candidate.name === first.name);

    expect(warnings).toEqual([]);
    expect(packages.map((candidate) => candidate.name).sort()).toEqual([helper.name, first.name]);
    expect(server?.version).toBe('2:1.0-1');
    expect(server?.purl).toBe('pkg:rpm/fedora/stratum-server@1.0-1?arch=noarch&distro=fedora-40&epoch=2');
    expect(server?.sourceName).toBe(first.name);
    expect(server?.sourceVersion).toBe('1.0-1');
    expect(server?.files.sort()).toEqual(Object.keys(first.files).sort());
    expect(server?.layerIndex).toBe(0);
  });

  it('follows an upgrade and a removal across layers', async () => {
    const upgrade: Layer = new Map<string, LayerEntry>([[DATABASE, databases[1]!], ['/usr/bin/stratum-server', second.files['/usr/bin/stratum-server']]]);
    const removal: Layer = new Map<string, Buffer | null>([[DATABASE, databases[2]!], ['/usr/lib/stratum/helper.so', null]]);
    const configEdit: Layer = new Map<string, LayerEntry>([['/etc/stratum-server.conf', 'port=8080']]);

    const { packages } = await readPackages(buildImage([baseLayer(), upgrade, removal, configEdit]));

    expect(packages.map((candidate) => candidate.name)).toEqual([first.name]);
    expect(packages[0]?.version).toBe('2:2.0-1');
    expect(packages[0]?.layerIndex).toBe(1);
  });

  it('reads a linked database once', async () => {
    const fedora: Layer = new Map<string, LayerEntry>([
      ['/var/lib/rpm', { symlink: '../../usr/lib/sysimage/rpm' }],
      ['/usr/lib/sysimage/rpm/rpmdb.sqlite', databases[0]!],
    ]);

    const { packages } = await readPackages(buildImage([fedora]));

    expect(packages.map((candidate) => candidate.name).sort()).toEqual([helper.name, first.name]);
    expect(packages[0]?.source).toBe(DATABASE);
  });

  it('skips a corrupt header with a warning', async () => {
    const SQL = await initSqlJs({ wasmBinary: readFileSync(createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm')).buffer as ArrayBuffer });
    const database = new SQL.Database(databases[0]!);
    const [[helperRow]] = database.exec(`SELECT hnum FROM Packages WHERE hnum = (SELECT MAX(hnum) FROM Packages)`)[0]!.values as [[number]];
    // A header that declares 3 index entries and 4096 data bytes in a blob of 24 bytes.
    database.run('UPDATE Packages SET blob = ? WHERE hnum = ?', [new Uint8Array([0, 0, 0, 3, 0, 0, 16, 0, ...new Array(16).fill(0)]), helperRow]);
    const corrupted = Buffer.from(database.export());
    database.close();

    const { packages, warnings } = await readPackages(buildImage([new Map([[DATABASE, corrupted]])]));

    expect(packages).toHaveLength(1);
    expect(warnings).toEqual([`${DATABASE}: Packages row ${helperRow}: header declares 3 entries and 4096 data bytes, but the blob has only 24 bytes; skipped`]);
  });

  it('warns about an unreadable database', async () => {
    const { packages, warnings } = await readPackages(buildImage([new Map([[DATABASE, 'not a database']])]));

    expect(packages).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^\/var\/lib\/rpm\/rpmdb\.sqlite: not a readable rpm sqlite database/);
  });
});
