import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HostImage } from './host-image.ts';
import { analyzeReachability } from './index.ts';
import { readLinkerConfig } from './linker.ts';
import { followLinkage } from './native.ts';
import type { StartConfig } from './start.ts';
import { ReachState } from './state.ts';

const LIB = '/usr/lib/x86_64-linux-gnu';

/** Runs the linkage step alone from one program and returns each library's chain by path. */
async function closureOf(image: HostImage, program: string, config: StartConfig): Promise<{ closure: Map<string, string[]>; warnings: string[] }> {
  const state = new ReachState(image.fs, config);
  const linker = await readLinkerConfig(image.fs, state.env, (message) => state.warn(message));
  const closure = followLinkage(state, linker, [{ path: image.fs.resolvePath(program)!, chain: [program] }]);
  return { closure, warnings: [...state.warnings] };
}

function base(config: StartConfig): HostImage {
  return new HostImage(config).usrMerge().program('/usr/bin/openssl');
}

describe('library search', () => {
  it('searches DT_RUNPATH folders', async () => {
    if (!existsSync('/usr/bin/busctl')) return;
    const image = base({}).program('/usr/bin/busctl');

    const { closure } = await closureOf(image, '/usr/bin/busctl', {});

    expect(closure.get(`${LIB}/systemd/libsystemd-shared-252.so`)).toEqual(['/usr/bin/busctl', 'libsystemd-shared-252.so']);
  });

  it('expands $ORIGIN in DT_RPATH from the real program path', async () => {
    if (!existsSync('/usr/lib/jvm/java-17-openjdk-amd64/bin/java')) return;
    // ldd reports libjli.so "not found" through the /usr/bin/java symlink, because ld.so --list takes
    // $ORIGIN from the path it is given; an exec takes it from /proc/self/exe, the real path.
    const image = base({}).program('/usr/bin/java').host('/usr/lib/jvm/java-17-openjdk-amd64/lib/libjli.so');

    const { closure } = await closureOf(image, '/usr/bin/java', {});

    expect(closure.get('/usr/lib/jvm/java-17-openjdk-amd64/lib/libjli.so')).toEqual(['/usr/bin/java', 'libjli.so']);
  });

  it('searches LD_LIBRARY_PATH before the default folders', async () => {
    const config = { env: ['LD_LIBRARY_PATH=/opt/ssl/lib'] };
    const image = base(config).file('/opt/ssl/lib/libssl.so.3', readFileSync(`${LIB}/libssl.so.3`), 0o755);

    const { closure } = await closureOf(image, '/usr/bin/openssl', config);

    expect(closure.has('/opt/ssl/lib/libssl.so.3')).toBe(true);
    expect(closure.has(`${LIB}/libssl.so.3`)).toBe(false);
  });

  it('reads folders from ld.so.conf includes', async () => {
    const image = new HostImage({}).usrMerge().host('/usr/bin/openssl').host(`${LIB}/libc.so.6`).host('/usr/lib64/ld-linux-x86-64.so.2');
    image.file('/etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
    image.file('/etc/ld.so.conf.d/vendor.conf', '# vendor build of OpenSSL\n/opt/vendor/lib\n');
    image.file('/opt/vendor/lib/libssl.so.3', readFileSync(`${LIB}/libssl.so.3`));
    image.file('/opt/vendor/lib/libcrypto.so.3', readFileSync(`${LIB}/libcrypto.so.3`));

    const { closure, warnings } = await closureOf(image, '/usr/bin/openssl', {});

    expect(closure.get('/opt/vendor/lib/libssl.so.3')).toEqual(['/usr/bin/openssl', 'libssl.so.3']);
    expect(closure.has('/opt/vendor/lib/libcrypto.so.3')).toBe(true);
    expect(warnings).toEqual([]);
  });

  it('skips a library of another ELF class', async () => {
    const program32 = '/usr/lib/perf-core/perf-read-vdso32';
    if (!existsSync(program32)) return;
    const image = new HostImage({}).usrMerge().host('/usr/bin/openssl').host(`${LIB}/libc.so.6`).host(`${LIB}/libcrypto.so.3`).host('/usr/lib64/ld-linux-x86-64.so.2');
    image.file(`${LIB}/libssl.so.3`, readFileSync(program32));

    const { closure, warnings } = await closureOf(image, '/usr/bin/openssl', {});

    expect(closure.has(`${LIB}/libssl.so.3`)).toBe(false);
    expect(warnings).toContain("libssl.so.3, needed by /usr/bin/openssl, is not in the image's library search path");
  });
});

describe('programs the analysis cannot follow', () => {
  it('keeps the JVM reachable and everything else unknown', async () => {
    if (!existsSync('/usr/lib/jvm/java-17-openjdk-amd64/bin/java')) return;
    const config = { entrypoint: ['java', '-jar', '/app/app.jar'] };
    const image = base(config).program('/usr/bin/java').host('/usr/lib/jvm/java-17-openjdk-amd64/lib/libjli.so');
    const jre = image.dpkg('openjdk-17-jre-headless');
    const libssl = image.dpkg('libssl3');

    const result = await analyzeReachability({ fs: image.fs, packages: [jre, libssl], config });

    expect(result.reachability[0]!.status).toBe('REACHABLE');
    expect(result.reachability[0]!.evidence).toContain(`/usr/bin/java → libjli.so → openjdk-17-jre-headless ${jre.version}`);
    expect(result.reachability[1]!.status).toBe('UNKNOWN');
    expect(result.reachability[1]!.evidence[0]).toBe('/usr/bin/java runs code that this analysis does not follow');
  });
});
