import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeImage } from '../packages/core/src/analysis/analyze-image.ts';
import type { ImageAnalysis } from '../packages/core/src/analysis/model.ts';
import { fixedClock } from '../packages/core/src/clock.ts';
import { silentLogger } from '../packages/core/src/logger.ts';
import { buildOciLayout, type LayerEntry } from './support/oci-image.ts';

/**
 * The whole path on a real OCI layout: this machine's openssl, libssl, libxml2 and their
 * libraries with their real dpkg records, read by the layer reader with the reachability
 * inspectors and selectors, then the package readers, then the reachability analysis.
 */

const LIB = '/usr/lib/x86_64-linux-gnu';
const PACKAGES = ['openssl', 'libssl3', 'libxml2', 'libc6', 'zlib1g', 'liblzma5', 'libicu72'];

/** Layer entries for a host file: every symlink on the way as a symlink, then the file, under merged /usr. */
function hostEntries(hostPath: string, entries: Map<string, LayerEntry>): void {
  let current = '';
  const parts = hostPath.split('/').filter(Boolean);
  for (let index = 0; index < parts.length; index++) {
    current = `${current}/${parts[index]}`;
    const stat = lstatSync(current);
    if (stat.isSymbolicLink()) {
      const target = readlinkSync(current);
      if (!entries.has(current)) entries.set(current, { type: 'symlink', path: current, target });
      hostEntries(posix.resolve(posix.dirname(current), target, ...parts.slice(index + 1)), entries);
      return;
    }
    if (index === parts.length - 1 && stat.isFile()) entries.set(current, { type: 'file', path: current, fromHost: current, mode: stat.mode & 0o7777 });
  }
}

/** Builds layer entries with the real dpkg records of the packages: /var/lib/dpkg/status and the info/*.list files. */
function dpkgEntries(): LayerEntry[] {
  const status = readFileSync('/var/lib/dpkg/status', 'utf8').split('\n\n');
  const records = PACKAGES.map((name) => status.find((paragraph) => paragraph.startsWith(`Package: ${name}\n`)));
  const entries: LayerEntry[] = [{ type: 'file', path: '/var/lib/dpkg/status', content: `${records.filter(Boolean).join('\n\n')}\n` }];
  // Multi-Arch packages name their list NAME:ARCH.list, the others NAME.list.
  for (const name of PACKAGES) {
    const list = [`/var/lib/dpkg/info/${name}:amd64.list`, `/var/lib/dpkg/info/${name}.list`].find((path) => existsSync(path))!;
    entries.push({ type: 'file', path: list, fromHost: list });
  }
  return entries;
}

describe('reachability on an OCI layout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratum-reachability-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds libssl reachable and libxml2 unreachable from openssl', async () => {
    const files = new Map<string, LayerEntry>();
    for (const dirLink of ['/bin', '/lib', '/lib64', '/sbin']) files.set(dirLink, { type: 'symlink', path: dirLink, target: `usr${dirLink}` });
    const programs = ['/usr/bin/openssl', `${LIB}/libxml2.so.2`];
    for (const program of programs) {
      hostEntries(program, files);
      const ldd = execFileSync('ldd', [program], { encoding: 'utf8' });
      for (const match of ldd.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) hostEntries(match[1]!, files);
    }
    for (const module of ['legacy.so']) hostEntries(`${LIB}/ossl-modules/${module}`, files);
    for (const config of ['/etc/ld.so.conf', '/etc/ld.so.conf.d/x86_64-linux-gnu.conf', '/etc/ld.so.conf.d/libc.conf', '/etc/nsswitch.conf', '/etc/os-release']) hostEntries(realpathSync(config), files);
    if (!files.has('/etc/os-release')) files.set('/etc/os-release', { type: 'symlink', path: '/etc/os-release', target: readlinkSync('/etc/os-release') });

    const image = await buildOciLayout(dir, {
      layers: [
        { compression: 'gzip', entries: [...files.values()] },
        { compression: 'gzip', entries: dpkgEntries() },
      ],
      config: { Entrypoint: ['openssl'], Cmd: ['version'], Env: ['PATH=/usr/local/bin:/usr/bin:/bin'] },
    });
    const analysis: ImageAnalysis = await analyzeImage({ kind: 'oci-layout', path: image.dir }, { clock: fixedClock('2026-12-04T12:00:00Z'), logger: silentLogger });

    const verdict = (name: string) => {
      const pkg = analysis.packages.find((candidate) => candidate.name === name);
      expect(pkg, `${name} is read from the dpkg status`).toBeDefined();
      return { pkg: pkg!, verdict: analysis.reachability.find((entry) => entry.packageId === pkg!.id)! };
    };
    const libssl = verdict('libssl3');
    const libxml2 = verdict('libxml2');
    const zlib = verdict('zlib1g');

    expect(analysis.reachability).toHaveLength(analysis.packages.length);
    expect(libssl.verdict.status).toBe('REACHABLE');
    expect(libssl.verdict.evidence).toContain(`/usr/bin/openssl → libssl.so.3 → libssl3 ${libssl.pkg.version}`);
    expect(libxml2.verdict.status).toBe('UNREACHABLE');
    expect(libxml2.verdict.evidence[0]).toContain(`no file of libxml2 ${libxml2.pkg.version} is in the linkage closure`);
    expect(zlib.verdict.status).toBe('UNREACHABLE');
    expect(verdict('openssl').verdict.status).toBe('REACHABLE');
  });
});
