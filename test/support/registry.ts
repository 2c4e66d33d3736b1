import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

// The Debian packages docker-registry (CNCF Distribution 2.8), skopeo and umoci provide the binaries these tests run.
export const REGISTRY_BINARY = '/usr/bin/docker-registry';
const COMMAND_TIMEOUT_MS = 60_000;
const REGISTRY_START_TIMEOUT_MS = 15_000;
const REGISTRY_STOP_TIMEOUT_MS = 5_000;

const run = promisify(execFile);

export interface TestRegistry {
  /** Base URL, such as `http://127.0.0.1:5000`. */
  url: string;
  /** Host and port as image references name the registry, such as `127.0.0.1:5000`. */
  host: string;
  /** Everything the registry process wrote to stdout and stderr so far. */
  log(): string;
  /** Copies `source`, a skopeo image reference such as `oci:<layout>:<tag>`, to `repository:tag` and returns the stored manifest digest. */
  push(source: string, repository: string, tag: string): Promise<string>;
  /** Sends SIGTERM, then SIGKILL if the registry has not exited within 5 s. */
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Directory that receives the registry's config.yml, its storage and skopeo's digest files. */
  workDir: string;
  port: number;
  /** Endpoint that receives the registry's push and pull notifications. Without it, the registry sends none. */
  notificationUrl?: string;
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` returns a value, or throws after `timeoutMs` with `what` in the message. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;

  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

function registryConfig({ workDir, port, notificationUrl }: RegistryOptions): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(workDir, 'registry')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (notificationUrl !== undefined) {
    // Retries are short so that a notification that failed once is sent again well within the test's wait.
    lines.push(
      'notifications:',
      '  endpoints:',
      '    - name: stratum',
      `      url: ${notificationUrl}`,
      '      timeout: 5s',
      '      threshold: 3',
      '      backoff: 1s',
    );
  }
  return [...lines, ''].join('\n');
}

/**
 * Starts `docker-registry serve` on 127.0.0.1:`port` with filesystem storage under `workDir`,
 * and resolves once `GET /v2/` succeeds. If the registry fails to start, it is stopped and the error rethrown.
 */
export async function startRegistry(options: RegistryOptions): Promise<TestRegistry> {
  const { workDir, port } = options;
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const configPath = join(workDir, 'config.yml');
  await writeFile(configPath, registryConfig(options));

  let output = '';
  let spawnError: Error | undefined;
  const child = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.once('error', (error) => (spawnError = error));

  const running = () => child.exitCode === null && child.signalCode === null;

  const stop = async (): Promise<void> => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (!running() || spawnError) return;
      // The signal is sent before the listener is added, but 'exit' is emitted on a later tick, so it is not missed.
      child.kill(signal);
      await once(child, 'exit', { signal: AbortSignal.timeout(REGISTRY_STOP_TIMEOUT_MS) }).catch(() => undefined);
    }
  };

  const push = async (source: string, repository: string, tag: string): Promise<string> => {
    const digestFile = join(workDir, `push-${randomUUID()}.digest`);
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--digestfile', digestFile, source, `docker://${host}/${repository}:${tag}`], { timeout: COMMAND_TIMEOUT_MS });
    return (await readFile(digestFile, 'utf8')).trim();
  };

  try {
    await waitFor(`GET ${url}/v2/ to answer`, REGISTRY_START_TIMEOUT_MS, async () => {
      if (spawnError) throw new Error(`Failed to start ${REGISTRY_BINARY}: ${spawnError.message}`);
      if (!running()) throw new Error(`docker-registry exited with code ${child.exitCode} (signal ${child.signalCode}) before answering: ${output}`);
      try {
        const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
        return response.ok ? true : undefined;
      } catch {
        return undefined;
      }
    });
  } catch (error) {
    await stop();
    throw error;
  }

  return { url, host, log: () => output, push, stop };
}

/**
 * Builds the OCI layout `layout` with umoci. The image `base` has two layers, and each name in `apps`
 * tags an image that is `base` plus one layer containing `/app/<name>.py`.
 */
export async function buildImages(workDir: string, layout: string, apps: readonly string[]): Promise<void> {
  const files = join(workDir, 'files');
  await mkdir(files);
  for (const name of ['os-release', 'libexample.so', ...apps.map((app) => `${app}.py`)]) await writeFile(join(files, name), `${name} for a registry test image\n`);

  await run('umoci', ['init', '--layout', layout], { timeout: COMMAND_TIMEOUT_MS });
  await run('umoci', ['new', '--image', `${layout}:base`], { timeout: COMMAND_TIMEOUT_MS });
  await run('umoci', ['insert', '--image', `${layout}:base`, join(files, 'os-release'), '/etc/os-release'], { timeout: COMMAND_TIMEOUT_MS });
  await run('umoci', ['insert', '--image', `${layout}:base`, join(files, 'libexample.so'), '/usr/lib/libexample.so'], { timeout: COMMAND_TIMEOUT_MS });
  for (const app of apps) {
    await run('umoci', ['insert', '--image', `${layout}:base`, '--tag', app, join(files, `${app}.py`), `/app/${app}.py`], { timeout: COMMAND_TIMEOUT_MS });
  }
}
