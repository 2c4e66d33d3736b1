import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseElf } from './elf.ts';

/** Real binaries and libraries of this machine (Debian 12, x86-64), and one 32-bit i386 program where installed. */
const HOST_FILES = [
  '/usr/bin/openssl',
  '/usr/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/lib/x86_64-linux-gnu/libcrypto.so.3',
  '/usr/lib/x86_64-linux-gnu/libxml2.so.2',
  '/usr/bin/bash',
  '/usr/bin/dash',
  '/usr/bin/python3.11',
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  '/usr/lib/perf-core/perf-read-vdso32',
].filter((file) => existsSync(file));

const hasReadelf = (() => {
  try {
    execFileSync('readelf', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

function readelf(args: string[], file: string): string {
  return execFileSync('readelf', ['-W', ...args, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

describe.skipIf(!hasReadelf)('parseElf against readelf', () => {
  it.each(HOST_FILES)('reads the dynamic section of %s', (file) => {
    const facts = parseElf(readFileSync(file));
    const dynamic = readelf(['-d'], file);
    const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((match) => match[1]);
    const soname = /\(SONAME\)\s+Library soname: \[(.+)\]/.exec(dynamic)?.[1];
    const runpath = /\(RUNPATH\)\s+Library runpath: \[(.+)\]/.exec(dynamic)?.[1];

    expect(facts?.needed).toEqual(needed);
    expect(facts?.soname).toBe(soname);
    expect(facts?.runpath?.join(':')).toBe(runpath);
  });

  it.each(HOST_FILES)('reads the interpreter and imports of %s', (file) => {
    const facts = parseElf(readFileSync(file));
    const interpreter = /\[Requesting program interpreter: (.+)\]/.exec(readelf(['-l'], file))?.[1];
    const imported = new Set(
      readelf(['--dyn-syms'], file)
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((columns) => columns[6] === 'UND' && columns[7])
        .map((columns) => columns[7]!.replace(/@.*/, '')),
    );

    expect(facts?.interpreter).toBe(interpreter);
    expect(facts?.importsDlopen).toBe(imported.has('dlopen') || imported.has('dlmopen'));
    expect(facts?.spawns).toEqual(facts?.spawns.filter((name) => imported.has(name)));
    expect(imported.has('execve')).toBe(facts?.spawns.includes('execve'));
  });
});

describe('parseElf', () => {
  it('reads the class of a 32-bit program', () => {
    const file = '/usr/lib/perf-core/perf-read-vdso32';
    if (!existsSync(file)) return;
    const facts = parseElf(readFileSync(file));

    expect(facts?.bits).toBe(32);
    expect(facts?.machine).toBe(3);
    expect(facts?.endian).toBe('little');
  });

  it('finds the provider and engine folders in libcrypto', () => {
    const facts = parseElf(readFileSync('/usr/lib/x86_64-linux-gnu/libcrypto.so.3'));

    expect(facts?.importsDlopen).toBe(true);
    expect(facts?.loadStrings).toContain('/usr/lib/x86_64-linux-gnu/ossl-modules');
    expect(facts?.loadStrings).toContain('/usr/lib/x86_64-linux-gnu/engines-3');
  });

  it('keeps no load strings for programs without dlopen', () => {
    const facts = parseElf(readFileSync('/usr/bin/openssl'));

    expect(facts?.importsDlopen).toBe(false);
    expect(facts?.loadStrings).toBeUndefined();
  });

  it('returns undefined for files that are not ELF', () => {
    expect(parseElf(readFileSync('/etc/os-release'))).toBeUndefined();
  });

  it('survives every truncation of a real library', () => {
    const whole = readFileSync('/usr/lib/x86_64-linux-gnu/libssl.so.3');
    const full = parseElf(whole);
    const lengths = [4, 16, 52, 63, 64, 200, 1000, 4096, 20_000, 100_000, whole.length - 1];

    for (const length of lengths) {
      const facts = parseElf(whole.subarray(0, length));
      // A truncated file never yields a name that the whole file does not have.
      for (const name of facts?.needed ?? []) expect(full?.needed).toContain(name);
    }
  });

  it('ignores section and segment offsets that point past the end', () => {
    const copy = Buffer.from(readFileSync('/usr/bin/dash'));
    copy.writeBigUInt64LE(0xffff_ffff_ffffn, 32);
    copy.writeBigUInt64LE(0xffff_ffff_ffffn, 40);

    const facts = parseElf(copy);
    expect(facts?.needed).toEqual([]);
    expect(facts?.interpreter).toBeUndefined();
  });
});
