import { readFile, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { GateRequestError, requestGate, type GateVariables } from './client.ts';
import { imageName, type GateRequestTarget, type GateResultView } from './gate-result.ts';
import { toJUnit, toJUnitError } from './junit.ts';
import { toMarkdown, toMarkdownError } from './markdown.ts';
import { EXIT, parseOptions, parseRequestedReports, USAGE, UsageError, type GateOptions } from './options.ts';
import { toSarif, toSarifError } from './sarif.ts';
import { waitForDecision } from './wait.ts';

export const CLIENT_VERSION = '0.1.0';

export interface ConsoleStreams {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

async function readPolicy(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Invalid --policy ${JSON.stringify(file)}: the file cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }

  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Invalid --policy ${JSON.stringify(file)}: the file is not JSON (${(error as Error).message})`);
  }
}

async function writeReport(path: string, content: string, streams: ConsoleStreams, option: string): Promise<void> {
  if (path === '-') {
    streams.stdout(content);
    return;
  }
  try {
    await writeFile(path, content);
  } catch (error) {
    throw new UsageError(`Invalid ${option} ${JSON.stringify(path)}: the file cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function describe(result: GateResultView | undefined, target: GateRequestTarget): string {
  const lines = [`stratum-gate: ${result?.decision ?? 'PENDING'} for ${imageName(result, target)}`];
  for (const reason of result?.reasons ?? []) lines.push(`  ${reason}`);
  for (const item of result?.findings.slice(0, 20) ?? []) {
    const { finding } = item;
    lines.push(`  ${finding.severity.padEnd(8)} ${finding.vulnerabilityId} in ${finding.package.name} ${finding.package.version} (${finding.origin.toLowerCase()}, risk ${item.risk.score}): ${item.rule}`);
  }
  const more = (result?.summary?.failing ?? 0) - Math.min(result?.findings.length ?? 0, 20);
  if (more > 0) lines.push(`  … and ${more} more; see the reports`);
  return `${lines.join('\n')}\n`;
}

/** Maps the final result to the exit code: PASS 0, FAIL 1, still PENDING 3 unless a timeout passes. */
function exitCodeOf(result: GateResultView, timedOut: boolean, options: GateOptions): number {
  if (result.decision === 'PASS') return EXIT.PASS;
  if (result.decision === 'FAIL') return EXIT.FAIL;
  return timedOut && options.timeoutPasses ? EXIT.PASS : EXIT.TIMED_OUT;
}

async function gate(options: GateOptions, streams: ConsoleStreams): Promise<number> {
  const target: GateRequestTarget = { imageDigest: options.imageDigest, repository: options.repository, tag: options.tag };
  const variables: GateVariables = { ...target, ...(options.policyFile ? { policy: await readPolicy(options.policyFile) } : {}) };

  const { result, timedOut } = await waitForDecision(() => requestGate(options.endpoint, options.token, variables), {
    waitSeconds: options.waitSeconds,
    onRetry: (reason, delayMs) => streams.stderr(`stratum-gate: waiting ${(delayMs / 1000).toFixed(1)} s: ${reason}\n`),
    // A repository with no stored image is more often a misspelt name than a first push still on its way.
    worthWaiting: (pending) => options.waitExplicit || pending.repositoryKnown !== false,
  });

  const flags = { timedOut, timeoutPasses: options.timeoutPasses };
  if (options.sarif) await writeReport(options.sarif, toSarif(result, target, CLIENT_VERSION), streams, '--sarif');
  if (options.junit) await writeReport(options.junit, toJUnit(result, target, flags), streams, '--junit');
  if (options.markdown) await writeReport(options.markdown, toMarkdown(result, target, flags), streams, '--markdown');

  streams.stderr(describe(result, target));
  const code = exitCodeOf(result, timedOut, options);
  if (result.decision === 'PENDING' && !timedOut) {
    streams.stderr(`stratum-gate: not waiting, because the server has no image of repository ${options.repository ?? ''}; pass --wait SECONDS to wait for its first image; exit code ${code}\n`);
  } else if (result.decision === 'PENDING') {
    const outcome = code === EXIT.PASS ? 'passing because of --timeout-passes' : `exit code ${EXIT.TIMED_OUT}`;
    streams.stderr(`stratum-gate: timed out after ${options.waitSeconds} s waiting for a decision (${result.pendingReason ?? 'PENDING'}); ${outcome}\n`);
  }
  return code;
}

/**
 * Writes the requested reports of a run that ends with EXIT.ERROR, so pipeline steps that run
 * after a failed gate (a SARIF upload, a comment with the summary) show the error instead of
 * failing on a missing file. A report that cannot be written is named on stderr and skipped.
 */
async function writeErrorReports(argv: string[], message: string, streams: ConsoleStreams): Promise<void> {
  const requested = parseRequestedReports(argv);
  if (!requested) return;

  const reports: Array<[string | undefined, string, () => string]> = [
    [requested.sarif, '--sarif', () => toSarifError(message, requested.target, CLIENT_VERSION, EXIT.ERROR)],
    [requested.junit, '--junit', () => toJUnitError(message, requested.target, new Date())],
    [requested.markdown, '--markdown', () => toMarkdownError(message, requested.target)],
  ];
  for (const [path, option, render] of reports) {
    if (!path) continue;
    try {
      await writeReport(path, render(), streams, option);
    } catch (error) {
      streams.stderr(`stratum-gate: ${(error as Error).message}\n`);
    }
  }
}

/** Runs the client with a command line and an environment, and returns the exit code. */
export async function runGate(argv: string[], env: Record<string, string | undefined>, streams: ConsoleStreams): Promise<number> {
  try {
    const options = parseOptions(argv, env);
    if (!options) {
      streams.stdout(`${USAGE}\n`);
      return EXIT.PASS;
    }
    return await gate(options, streams);
  } catch (error) {
    if (error instanceof UsageError || error instanceof GateRequestError) {
      streams.stderr(`stratum-gate: ${error.message}\n`);
      if (error instanceof UsageError && /option|argument/i.test(error.message) && /Unknown|unexpected/i.test(error.message)) streams.stderr(`Run stratum-gate --help for the options.\n`);
      await writeErrorReports(argv, error.message, streams);
      return EXIT.ERROR;
    }
    streams.stderr(`stratum-gate: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    await writeErrorReports(argv, `unexpected error: ${(error as Error).message}`, streams);
    return EXIT.ERROR;
  }
}

/** Runs the client with process.argv and process.env and sets the process's exit code. The bin calls it. */
export async function runFromProcess(): Promise<void> {
  // A reader that stops early, such as `| head`, closes the pipe, and the gate's exit code must still count.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });

  const code = await runGate(process.argv.slice(2), process.env, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
  process.exitCode = code;
}

// Run when executed directly, as in `npx tsx packages/cli/src/main.ts`, and not when imported.
const invokedPath = process.argv[1] ? realpathSync(process.argv[1]) : undefined;
if (invokedPath === fileURLToPath(import.meta.url)) await runFromProcess();
