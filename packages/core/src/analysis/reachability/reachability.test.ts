import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AnalyzedPackage, PackageReachability } from '../model.ts';
import { HostImage } from './host-image.ts';
import { analyzeReachability, applyRuntimeEvidence, reachabilitySelectors } from './index.ts';
import type { StartConfig } from './start.ts';

/**
 * Images built from this machine's own programs, libraries and dpkg records (Debian 12,
 * x86-64), and from real npm packages of this repository's node_modules.
 */

const REPO_NODE_MODULES = new URL('../../../../../node_modules', import.meta.url).pathname;
const LIB = '/usr/lib/x86_64-linux-gnu';

function verdictOf(result: PackageReachability[], pkg: AnalyzedPackage): PackageReachability {
  const verdict = result.find((entry) => entry.packageId === pkg.id);
  if (!verdict) throw new Error(`no verdict for ${pkg.id}`);
  return verdict;
}

/** Asserts a package's status and shows its evidence when the status differs. */
function expectStatus(result: PackageReachability[], pkg: AnalyzedPackage, status: PackageReachability['status']): void {
  const verdict = verdictOf(result, pkg);
  expect(verdict.status, `${pkg.name}: ${verdict.evidence.join(' | ')}`).toBe(status);
}

/** Builds a Debian base: usrmerge links, the loader configuration, nsswitch.conf and /bin/sh. */
function debianBase(config: StartConfig): HostImage {
  return new HostImage(config).usrMerge().host('/etc/ld.so.conf').host('/etc/ld.so.conf.d').host('/etc/nsswitch.conf').program('/usr/bin/dash').symlink('/usr/bin/sh', 'dash');
}

/** openssl and its providers, libxml2 and its dependencies, and xz with liblzma. */
function nativeImage(config: StartConfig): { image: HostImage; packages: Record<string, AnalyzedPackage> } {
  const image = debianBase(config)
    .program('/usr/bin/openssl')
    .host(`${LIB}/ossl-modules`)
    .host(`${LIB}/engines-3`)
    .program(`${LIB}/libxml2.so.2`)
    .program('/usr/bin/xz');
  const names = ['openssl', 'libssl3', 'libxml2', 'libc6', 'zlib1g', 'liblzma5', 'xz-utils', 'dash'];
  const packages = Object.fromEntries(names.map((name) => [name, image.dpkg(name)]));
  return { image, packages };
}

describe('native reachability', () => {
  it('library exec keeps programs UNKNOWN', async () => {
    // update-mime-database imports no exec function itself, but libglib, which it links, imports
    // execv, execvp and posix_spawn: through it the program may run openssl or a shell.
    const config = { entrypoint: ['update-mime-database'], cmd: ['/usr/share/mime'] };
    const image = debianBase(config).program('/usr/bin/update-mime-database').program('/usr/bin/openssl');
    const packages = Object.fromEntries(['shared-mime-info', 'libglib2.0-0', 'libxml2', 'openssl', 'dash'].map((name) => [name, image.dpkg(name)]));

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    expectStatus(result.reachability, packages['libglib2.0-0']!, 'REACHABLE');
    expectStatus(result.reachability, packages.libxml2!, 'REACHABLE');
    for (const program of ['openssl', 'dash']) {
      const verdict = verdictOf(result.reachability, packages[program]!);
      expect(verdict.status, `${program}: ${verdict.evidence.join(' | ')}`).toBe('UNKNOWN');
      expect(verdict.evidence.join(' | ')).toMatch(/libglib-2\.0\.so\.0 imports .*execv.* and may run other programs/);
    }
  });

  it('finds libssl reachable and libxml2 unreachable from openssl', async () => {
    const config = { entrypoint: ['openssl'], cmd: ['version'] };
    const { image, packages } = nativeImage(config);
    const pkgs = Object.values(packages);

    const result = await analyzeReachability({ fs: image.fs, packages: pkgs, config });
    const libssl = verdictOf(result.reachability, packages.libssl3!);
    const libxml2 = verdictOf(result.reachability, packages.libxml2!);

    expect(result.reachability).toHaveLength(pkgs.length);
    expect(libssl.status).toBe('REACHABLE');
    expect(libssl.method).toBe('elf-linkage');
    expect(libssl.evidence).toContain(`/usr/bin/openssl → libssl.so.3 → libssl3 ${packages.libssl3!.version}`);
    expect(libxml2.status).toBe('UNREACHABLE');
    expect(libxml2.method).toBe('elf-linkage');
    expect(libxml2.evidence[0]).toContain(`no file of libxml2 ${packages.libxml2!.version} is in the linkage closure`);
    expect(libxml2.evidence[0]).toContain('dlopen users load only the names and folders in their string literals: libcrypto.so.3 (/usr/lib/x86_64-linux-gnu/engines-3, /usr/lib/x86_64-linux-gnu/ossl-modules');
  });

  it('follows usrmerge paths to the owning package', async () => {
    const config = { entrypoint: ['openssl'] };
    const { image, packages } = nativeImage(config);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });
    const libc = verdictOf(result.reachability, packages.libc6!);

    // libc6 lists /lib/x86_64-linux-gnu/libc.so.6, which the loader reaches through /usr/lib.
    expect(packages.libc6!.files).toContain('/lib/x86_64-linux-gnu/libc.so.6');
    expect(libc.status).toBe('REACHABLE');
    expect(libc.evidence[0]).toMatch(/^\/usr\/bin\/openssl → /);
  });

  it('marks the started program and its own package reachable', async () => {
    const config = { entrypoint: ['/usr/bin/openssl'] };
    const { image, packages } = nativeImage(config);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });
    const openssl = verdictOf(result.reachability, packages.openssl!);

    expect(openssl.status).toBe('REACHABLE');
    expect(openssl.method).toBe('entrypoint');
    expect(openssl.evidence[0]).toBe(`/usr/bin/openssl → openssl ${packages.openssl!.version}`);
  });

  it('keeps programs that are never started unreachable', async () => {
    const config = { entrypoint: ['openssl'] };
    const { image, packages } = nativeImage(config);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    expectStatus(result.reachability, packages['xz-utils']!, 'UNREACHABLE');
    expect(verdictOf(result.reachability, packages['xz-utils']!).evidence[0]).toContain('none of the programs of xz-utils');
    expectStatus(result.reachability, packages.liblzma5!, 'UNREACHABLE');
  });

  it.skipIf(!existsSync(`${LIB}/libnss_systemd.so.2`))('follows nsswitch.conf to NSS modules', async () => {
    const config = { entrypoint: ['openssl'] };
    const { image } = nativeImage(config);
    image.program(`${LIB}/libnss_systemd.so.2`);
    const nss = image.dpkg('libnss-systemd');

    const named = await analyzeReachability({ fs: image.fs, packages: [nss], config });
    image.file('/etc/nsswitch.conf', 'passwd: files\nhosts: files dns\n');
    const notNamed = await analyzeReachability({ fs: image.fs, packages: [nss], config });

    expectStatus(named.reachability, nss, 'UNKNOWN');
    expect(named.reachability[0]!.evidence[0]).toContain('glibc loads libnss_systemd.so.2 for name lookups because /etc/nsswitch.conf names systemd');
    expectStatus(notNamed.reachability, nss, 'UNREACHABLE');
  });

  it('treats a library named by a dlopen user as unknown', async () => {
    // Python's ctypes with a literal name: the library may be loaded, so its package is UNKNOWN.
    const config = { entrypoint: ['python3', '/app/main.py'] };
    const image = debianBase(config).program('/usr/bin/python3.11').symlink('/usr/bin/python3', 'python3.11').host('/usr/lib/python3.11').program(`${LIB}/libxml2.so.2`);
    image.file('/app/main.py', 'import ctypes\nlib = ctypes.CDLL("libxml2.so.2")\n');
    const libxml2 = image.dpkg('libxml2');

    const result = await analyzeReachability({ fs: image.fs, packages: [libxml2], config });
    const verdict = verdictOf(result.reachability, libxml2);

    expect(verdict.status).toBe('UNKNOWN');
    expect(verdict.evidence.join('\n')).toContain('/app/main.py loads the library "libxml2.so.2" with ctypes or cffi');
  });
});

describe('shell entrypoints', () => {
  const entrypointScript = [
    '#!/bin/sh',
    'set -e',
    '# Run openssl when the first argument is an option.',
    'if [ "${1#-}" != "$1" ]; then',
    '  set -- openssl "$@"',
    'fi',
    'exec "$@"',
    '',
  ].join('\n');

  it('follows exec "$@" into the command', async () => {
    const config = { entrypoint: ['/usr/local/bin/docker-entrypoint.sh'], cmd: ['openssl', 'version'] };
    const { image, packages } = nativeImage(config);
    image.file('/usr/local/bin/docker-entrypoint.sh', entrypointScript, 0o755);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });
    const libssl = verdictOf(result.reachability, packages.libssl3!);

    expect(libssl.status).toBe('REACHABLE');
    expect(libssl.evidence).toContain(`/bin/sh → /usr/local/bin/docker-entrypoint.sh → /usr/bin/openssl → libssl.so.3 → libssl3 ${packages.libssl3!.version}`);
    expectStatus(result.reachability, packages.dash!, 'REACHABLE');
    expectStatus(result.reachability, packages['xz-utils']!, 'UNREACHABLE');
  });

  it.each([
    { name: 'a computed command', script: '#!/bin/sh\n$APP_COMMAND --serve\n', reason: 'runs a command whose name is computed at run time' },
    { name: 'eval', script: '#!/bin/sh\neval "$STARTUP"\n', reason: 'uses eval' },
    { name: 'sh -c with a variable', script: '#!/bin/sh\nexec sh -c "$START"\n', reason: 'runs a command string that is computed at run time' },
    { name: 'a computed source path', script: '#!/bin/sh\n. "$CONFIG_DIR/env.sh"\nexec openssl version\n', reason: 'sources a file whose path is computed at run time' },
  ])('makes program packages unknown for $name', async ({ script, reason }) => {
    const config = { entrypoint: ['/entrypoint.sh'] };
    const { image, packages } = nativeImage(config);
    image.file('/entrypoint.sh', script, 0o755);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });
    const xz = verdictOf(result.reachability, packages['xz-utils']!);
    const liblzma = verdictOf(result.reachability, packages.liblzma5!);

    expect(xz.status).toBe('UNKNOWN');
    expect(xz.evidence.join('\n')).toContain(reason);
    // liblzma is linked by xz, which the unseen command may start.
    expect(liblzma.status).toBe('UNKNOWN');
    expect(liblzma.evidence.join('\n')).toContain('/usr/bin/xz');
  });

  it('follows wrappers such as env and timeout', async () => {
    const config = { entrypoint: ['env', 'OPENSSL_CONF=/etc/ssl/openssl.cnf', 'timeout', '-s', 'TERM', '30', 'openssl', 'version'] };
    const { image, packages } = nativeImage(config);
    image.program('/usr/bin/env').program('/usr/bin/timeout');

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });
    const libssl = verdictOf(result.reachability, packages.libssl3!);

    expect(libssl.evidence).toContain(`/usr/bin/env → /usr/bin/timeout → /usr/bin/openssl → libssl.so.3 → libssl3 ${packages.libssl3!.version}`);
    expectStatus(result.reachability, packages['xz-utils']!, 'UNREACHABLE');
  });

  it('makes program packages unknown under a program that runs others', async () => {
    const config = { entrypoint: ['find', '/data', '-exec', 'process-file', '{}', ';'] };
    const { image, packages } = nativeImage(config);
    image.program('/usr/bin/find');

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    expectStatus(result.reachability, packages['xz-utils']!, 'UNKNOWN');
    expect(verdictOf(result.reachability, packages['xz-utils']!).evidence[0]).toBe('its programs may be started: /usr/bin/find imports execvp and may run other programs');
  });

  it('follows a program that a changed PATH finds', async () => {
    const config = { entrypoint: ['/entrypoint.sh'] };
    const { image, packages } = nativeImage(config);
    image.file('/entrypoint.sh', '#!/bin/sh\nexport PATH="/opt/tools/bin:$PATH"\nexec compress-logs /var/log\n', 0o755).symlink('/opt/tools/bin/compress-logs', '/usr/bin/xz');

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    expectStatus(result.reachability, packages['xz-utils']!, 'REACHABLE');
    expectStatus(result.reachability, packages.liblzma5!, 'REACHABLE');
    expect(result.warnings.some((warning) => warning.includes('compress-logs, which PATH does not find'))).toBe(true);
  });

  it('makes everything unknown when the entrypoint is missing', async () => {
    const config = { entrypoint: ['/app/server'] };
    const { image, packages } = nativeImage(config);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    expectStatus(result.reachability, packages.libxml2!, 'UNKNOWN');
    expect(verdictOf(result.reachability, packages.libxml2!).evidence[0]).toContain('the entrypoint /app/server is not in the image');
  });

  it('never returns UNREACHABLE for an interactive shell', async () => {
    const config = { cmd: ['/bin/sh'] };
    const { image, packages } = nativeImage(config);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    for (const name of ['xz-utils', 'openssl']) {
      expectStatus(result.reachability, packages[name]!, 'UNKNOWN');
    }
  });
});

/** Builds a Node.js app in /app with debug (and its dependency ms) and semver from this repository's node_modules. */
function nodeImage(config: StartConfig, server: string): { image: HostImage; debug: AnalyzedPackage; ms: AnalyzedPackage; semver: AnalyzedPackage } {
  const image = debianBase(config).program('/usr/bin/node');
  for (const name of ['debug', 'ms', 'semver']) image.copyTree(`${REPO_NODE_MODULES}/${name}`, `/app/node_modules/${name}`);
  image.file('/app/package.json', JSON.stringify({ name: 'app', version: '1.0.0', main: 'server.js', scripts: { start: 'node server.js' } }));
  image.file('/app/server.js', server);
  return { image, debug: image.npm('/app/node_modules/debug'), ms: image.npm('/app/node_modules/ms'), semver: image.npm('/app/node_modules/semver') };
}

describe('Node.js reachability', () => {
  const server = "'use strict';\nconst log = require('debug')('app');\nconst http = require('node:http');\nhttp.createServer(() => log('request')).listen(8080);\n";

  it('follows requires into node_modules and leaves unused packages unreachable', async () => {
    const config = { cmd: ['node', 'server.js'], workingDir: '/app' };
    const { image, debug, ms, semver } = nodeImage(config, server);

    const result = await analyzeReachability({ fs: image.fs, packages: [debug, ms, semver], config });

    expectStatus(result.reachability, debug, 'REACHABLE');
    expectStatus(result.reachability, ms, 'REACHABLE');
    expect(verdictOf(result.reachability, ms).evidence[0]).toBe(`/usr/bin/node → /app/server.js → debug → ms → ms ${ms.version}`);
    expectStatus(result.reachability, semver, 'UNREACHABLE');
    expect(verdictOf(result.reachability, semver).method).toBe('node-imports');
    expect(verdictOf(result.reachability, semver).evidence[0]).toMatch(/^the Node\.js import graph from \/app\/server\.js \(\d+ files\) does not reach semver /);
  });

  it('follows ES module imports and package exports', async () => {
    const config = { cmd: ['node', '/app/server.mjs'], workingDir: '/app' };
    const { image, debug, ms, semver } = nodeImage(config, server);
    image.file('/app/server.mjs', "import { parse } from 'semver/functions/parse.js';\nexport const version = parse('1.2.3');\n");

    const result = await analyzeReachability({ fs: image.fs, packages: [debug, ms, semver], config });

    expectStatus(result.reachability, semver, 'REACHABLE');
    expectStatus(result.reachability, debug, 'UNREACHABLE');
  });

  it('runs npm start through the package scripts', async () => {
    const config = { cmd: ['npm', 'start'], workingDir: '/app' };
    const { image, debug, semver } = nodeImage(config, server);
    image.host('/usr/bin/npm');

    const result = await analyzeReachability({ fs: image.fs, packages: [debug, semver], config });

    expectStatus(result.reachability, debug, 'REACHABLE');
    expect(verdictOf(result.reachability, debug).evidence[0]).toContain('/app/package.json scripts.start → /usr/bin/node → /app/server.js → debug');
    expectStatus(result.reachability, semver, 'UNREACHABLE');
  });

  it('makes the scope of a computed require unknown', async () => {
    const config = { cmd: ['node', 'server.js'], workingDir: '/app' };
    const { image, debug, semver } = nodeImage(config, `${server}const plugin = require(process.env.PLUGIN);\n`);

    const result = await analyzeReachability({ fs: image.fs, packages: [debug, semver], config });

    expectStatus(result.reachability, debug, 'REACHABLE');
    expectStatus(result.reachability, semver, 'UNKNOWN');
    expect(verdictOf(result.reachability, semver).evidence).toContain('/app/server.js calls require or import() with a computed name');
  });

  it('makes program packages unknown under child_process', async () => {
    const config = { cmd: ['node', 'server.js'], workingDir: '/app' };
    const { image } = nodeImage(config, "const { execFile } = require('node:child_process');\nexecFile(process.env.TOOL);\n");
    image.program('/usr/bin/xz');
    const xz = image.dpkg('xz-utils');

    const result = await analyzeReachability({ fs: image.fs, packages: [xz], config });

    expectStatus(result.reachability, xz, 'UNKNOWN');
    expect(result.reachability[0]!.evidence[0]).toBe('its programs may be started: /app/server.js uses child_process and may run other programs');
  });

  it('makes every package unknown for node -e with computed code', async () => {
    const config = { entrypoint: ['/bin/sh', '-c', 'exec node -e "$APP_CODE"'], workingDir: '/app' };
    const { image, semver } = nodeImage(config, server);

    const result = await analyzeReachability({ fs: image.fs, packages: [semver], config });

    expectStatus(result.reachability, semver, 'UNKNOWN');
    expect(result.reachability[0]!.evidence[0]).toBe('/bin/sh → /usr/bin/node evaluates code computed at run time');
  });

  it('makes the scope of an unparsable file unknown', async () => {
    const config = { cmd: ['node', 'server.js'], workingDir: '/app' };
    const { image, semver } = nodeImage(config, "require('./routes');\n");
    image.file('/app/routes.js', 'const port: number = 8080;\n');

    const result = await analyzeReachability({ fs: image.fs, packages: [semver], config });

    expectStatus(result.reachability, semver, 'UNKNOWN');
    expect(verdictOf(result.reachability, semver).evidence[0]).toContain('/app/routes.js does not parse as JavaScript');
  });
});

const HAS_PYTHON_PACKAGES = ['/usr/bin/python3.11', '/usr/lib/python3/dist-packages/blinker', '/usr/lib/python3/dist-packages/jwt', '/usr/lib/python3/dist-packages/yaml'].every((path) => existsSync(path));

/** Debian's python3.11 with its standard library, and python3-blinker, python3-jwt and python3-yaml. */
function pythonImage(config: StartConfig): { image: HostImage; packages: Record<string, AnalyzedPackage> } {
  const image = debianBase(config)
    .program('/usr/bin/python3.11')
    .symlink('/usr/bin/python3', 'python3.11')
    .host('/usr/lib/python3.11')
    .program(`${LIB}/libssl.so.3`)
    .program('/usr/lib/python3/dist-packages/yaml/_yaml.cpython-311-x86_64-linux-gnu.so')
    .host('/usr/lib/python3/dist-packages/blinker')
    .host('/usr/lib/python3/dist-packages/jwt')
    .host('/usr/lib/python3/dist-packages/yaml')
    .host('/usr/lib/python3/dist-packages/_yaml');
  for (const path of ['/app/service/__init__.py', '/app/service/__main__.py', '/app/service/wsgi.py']) image.file(path, '');
  image.file('/app/service/__main__.py', 'import ssl\nfrom blinker import signal\n\nstarted = signal("started")\n');
  image.file('/app/service/wsgi.py', 'from . import __main__\nimport yaml\n\ndef app(environ, start_response):\n    return [yaml.safe_dump({}).encode()]\n');
  const names = ['python3-blinker', 'python3-jwt', 'python3-yaml', 'libyaml-0-2', 'libssl3'];
  return { image, packages: Object.fromEntries(names.map((name) => [name, image.dpkg(name)])) };
}

describe.skipIf(!HAS_PYTHON_PACKAGES)('Python reachability', () => {
  it('follows python -m into site packages and C extensions', async () => {
    const config = { cmd: ['python3', '-m', 'service'], workingDir: '/app' };
    const { image, packages } = pythonImage(config);

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    expectStatus(result.reachability, packages['python3-blinker']!, 'REACHABLE');
    expect(verdictOf(result.reachability, packages['python3-blinker']!).evidence[0]).toMatch(/^\/usr\/bin\/python3 → service → blinker → python3-blinker /);
    expectStatus(result.reachability, packages['python3-jwt']!, 'UNREACHABLE');
    expect(verdictOf(result.reachability, packages['python3-jwt']!).evidence[0]).toMatch(/^the Python import graph from -m service \(\d+ files\) does not reach python3-jwt/);
    expectStatus(result.reachability, packages['python3-yaml']!, 'UNREACHABLE');
    expectStatus(result.reachability, packages['libyaml-0-2']!, 'UNREACHABLE');
    // import ssl loads the _ssl extension, which links libssl.
    expectStatus(result.reachability, packages.libssl3!, 'REACHABLE');
    expect(verdictOf(result.reachability, packages.libssl3!).evidence.some((line) => / → ssl → _ssl → libssl\.so\.3 → libssl3 /.test(line))).toBe(true);
  });

  it('follows a gunicorn application target', async () => {
    const config = { entrypoint: ['gunicorn'], cmd: ['-b', '0.0.0.0:8000', '--workers', '2', 'service.wsgi:app'], workingDir: '/app' };
    const { image, packages } = pythonImage(config);
    // pip's console script for gunicorn, and the module it imports, reduced to that import.
    image.file('/usr/local/bin/gunicorn', '#!/usr/bin/python3\nimport re\nimport sys\nfrom gunicorn.app.wsgiapp import run\nif __name__ == "__main__":\n    sys.exit(run())\n', 0o755);
    image.file('/usr/local/lib/python3.11/dist-packages/gunicorn/__init__.py', '');
    image.file('/usr/local/lib/python3.11/dist-packages/gunicorn/app/__init__.py', '');
    image.file('/usr/local/lib/python3.11/dist-packages/gunicorn/app/wsgiapp.py', 'import importlib\n\ndef run():\n    return importlib.import_module(target)\n');

    const result = await analyzeReachability({ fs: image.fs, packages: Object.values(packages), config });

    expectStatus(result.reachability, packages['python3-yaml']!, 'REACHABLE');
    expectStatus(result.reachability, packages['libyaml-0-2']!, 'REACHABLE');
    expect(verdictOf(result.reachability, packages['libyaml-0-2']!).evidence[0]).toMatch(/→ yaml → libyaml-0\.so\.2 → libyaml-0-2 /);
    // yaml's constructor imports modules by a computed name, so other packages stay UNKNOWN.
    expectStatus(result.reachability, packages['python3-jwt']!, 'UNKNOWN');
    expect(verdictOf(result.reachability, packages['python3-jwt']!).evidence.join('\n')).toContain('yaml/constructor.py imports a module by a computed name');
  });
});

describe('applyRuntimeEvidence', () => {
  const libxml2: AnalyzedPackage = {
    id: 'pkg:deb/debian/libxml2@2.9.14',
    type: 'deb',
    name: 'libxml2',
    version: '2.9.14',
    purl: 'pkg:deb/debian/libxml2@2.9.14?arch=amd64',
    layerIndex: 0,
    source: '/var/lib/dpkg/status',
    files: ['/usr/lib/x86_64-linux-gnu/libxml2.so.2.9.14'],
  };
  const zlib: AnalyzedPackage = { ...libxml2, id: 'pkg:deb/debian/zlib1g@1.2.13', name: 'zlib1g', version: '1.2.13', purl: 'pkg:deb/debian/zlib1g@1.2.13', files: ['/usr/lib/x86_64-linux-gnu/libz.so.1.2.13'] };
  const statics: PackageReachability[] = [
    { packageId: libxml2.id, status: 'UNREACHABLE', method: 'elf-linkage', evidence: ['no file of libxml2 is in the linkage closure'] },
    { packageId: zlib.id, status: 'UNREACHABLE', method: 'elf-linkage', evidence: ['no file of zlib1g is in the linkage closure'] },
  ];

  it('turns an observed file reachable', () => {
    const result = applyRuntimeEvidence([libxml2, zlib], statics, { files: ['/usr/lib/x86_64-linux-gnu/libxml2.so.2.9.14'], packages: [] }, '2026-12-04T10:00:00Z');

    expect(result[0]).toEqual({
      packageId: libxml2.id,
      status: 'REACHABLE',
      method: 'runtime',
      evidence: ['/usr/lib/x86_64-linux-gnu/libxml2.so.2.9.14 was observed loaded in a running container at 2026-12-04T10:00:00Z → libxml2 2.9.14'],
    });
    expect(result[1]).toEqual(statics[1]);
  });

  it('matches /lib paths to /usr/lib', () => {
    // Agents report the path the loader opened; merged-/usr images list it under /usr.
    const result = applyRuntimeEvidence([libxml2, zlib], statics, { files: ['/lib/x86_64-linux-gnu/libz.so.1.2.13'], packages: [] }, '2026-12-04T10:00:00Z');

    expect(result.map((verdict) => verdict.status)).toEqual(['UNREACHABLE', 'REACHABLE']);
    expect(result[1]!.evidence[0]).toContain('/usr/lib/x86_64-linux-gnu/libz.so.1.2.13 was observed loaded');
  });

  it('turns a package observed by purl or name reachable', () => {
    const result = applyRuntimeEvidence([libxml2, zlib], statics, { files: [], packages: ['pkg:deb/debian/libxml2@2.9.14?arch=amd64', 'zlib1g'] }, '2026-12-04T10:00:00Z');

    expect(result.map((verdict) => verdict.status)).toEqual(['REACHABLE', 'REACHABLE']);
    expect(result[1]!.evidence).toEqual(['zlib1g was observed in use in a running container at 2026-12-04T10:00:00Z']);
    expect(statics[0]!.status).toBe('UNREACHABLE');
  });
});

describe('reachabilitySelectors', () => {
  const selectors = reachabilitySelectors({ entrypoint: ['/srv/start'], workingDir: '/app', cmd: ['node', 'server.js'] });
  const kept = (path: string, size = 1000): boolean => selectors.some((selector) => selector.keep(path, size));

  it.each([
    ['/etc/ld.so.conf', true],
    ['/etc/ld.so.conf.d/x86_64-linux-gnu.conf', true],
    ['/etc/ld-musl-x86_64.path', true],
    ['/etc/nsswitch.conf', true],
    ['/srv/start', true],
    ['/app/server.js', true],
    ['/usr/local/bin/docker-entrypoint.sh', true],
    ['/usr/local/bin/gunicorn', true],
    ['/app/node_modules/ms/package.json', true],
    ['/usr/lib/python3.11/ssl.py', true],
    ['/usr/share/doc/libssl3/changelog.gz', false],
    ['/usr/lib/x86_64-linux-gnu/libssl.so.3', false],
  ])('keeps %s: %s', (path, expected) => {
    expect(kept(path)).toBe(expected);
  });

  it('keeps scripts named in a shell-form command', () => {
    const shellForm = reachabilitySelectors({ entrypoint: ['/bin/sh', '-c', 'exec /srv/run --port 80'] });

    expect(shellForm.some((selector) => selector.keep('/srv/run', 1000))).toBe(true);
  });

  it('skips sources above the size limit', () => {
    expect(kept('/app/bundle.js', 64 * 1024 * 1024)).toBe(false);
  });
});
