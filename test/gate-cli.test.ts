import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fixedClock, silentLogger } from '@stratum/core';
import { apiKeyAuthenticator, createGraphQLServer } from '@stratum/graphql';
import { startLocalServer, type LocalServer } from '../packages/functions/src/local/server.ts';

import { readFixture } from './support/fixtures.ts';

const BIN = fileURLToPath(new URL('../packages/cli/bin/stratum-gate.js', import.meta.url));
const JUICE_SHOP = 'reports/trivy/scb-juice-shop-v12.10.2-alpine-node.json';
const XJOIN = 'reports/grype/dd-xjoin-kafka-connect-strimzi-rhel87-java.json';
const XJOIN_VEX = 'vex/vex-openvex/stratum-xjoin-avro-not-affected.openvex.json';
const UNKNOWN_DIGEST = `sha256:${'0'.repeat(64)}`;

let dataDir: string;
let server: LocalServer;
let juiceShopDigest: string;
let xjoinDigest: string;
/** Counts of the juice-shop image as the API reports them, to compare the client's reports against. */
let juiceShopSummary: { failing: number; criticalIds: string[] };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the stratum-gate bin as a pipeline would, in its own process. */
function gate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      let code = 0;
      if (error) code = typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function graphql(query: string, variables: Record<string, unknown>): Promise<any> {
  const response = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
  expect(body.errors).toBeUndefined();
  return body.data;
}

function sarifValidator() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  // ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
  const addFormats = (formats as unknown as { default: (instance: Ajv) => void }).default;
  addFormats(ajv);
  return ajv.compile(readFixture('schemas/sarif-schema-2.1.0.json'));
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'stratum-gate-'));
  server = await startLocalServer({ dataDir, port: 0, seedSamples: false, logger: silentLogger });

  const ingest = `mutation ($report: JSON!) { ingestScanReport(input: { report: $report }) { image { digest } } }`;
  juiceShopDigest = (await graphql(ingest, { report: readFixture(JUICE_SHOP) })).ingestScanReport.image.digest;
  xjoinDigest = (await graphql(ingest, { report: readFixture(XJOIN) })).ingestScanReport.image.digest;
  await graphql(`mutation ($document: JSON!) { importVex(input: { document: $document, source: VENDOR }) { findingsUpdated } }`, { document: readFixture(XJOIN_VEX) });

  const gateResult = (
    await graphql(`query ($digest: String) { evaluateGate(imageDigest: $digest) { summary { failing } findings { finding { vulnerabilityId severity } } } }`, { digest: juiceShopDigest })
  ).evaluateGate;
  juiceShopSummary = {
    failing: gateResult.summary.failing,
    criticalIds: gateResult.findings.filter((item: any) => item.finding.severity === 'CRITICAL').map((item: any) => item.finding.vulnerabilityId),
  };
});

afterAll(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('stratum-gate on a failing image', () => {
  let run: Run;
  let sarif: any;
  let junit: string;

  beforeAll(async () => {
    run = await gate([
      '--url', server.url,
      '--repository', 'bkimminich/juice-shop', '--tag', 'v12.10.2',
      '--wait', '0',
      '--sarif', join(dataDir, 'juice.sarif'),
      '--junit', join(dataDir, 'juice.xml'),
      '--markdown', '-',
    ]);
    sarif = JSON.parse(await readFile(join(dataDir, 'juice.sarif'), 'utf8'));
    junit = await readFile(join(dataDir, 'juice.xml'), 'utf8');
  });

  it('exits 1 on application criticals', () => {
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('stratum-gate: FAIL for bkimminich/juice-shop:v12.10.2@');
    expect(juiceShopSummary.criticalIds.length).toBeGreaterThan(0);
  });

  it('writes SARIF valid against the 2.1.0 schema', () => {
    const validate = sarifValidator();
    const valid = validate(sarif);

    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('rejects SARIF the schema forbids', () => {
    const validate = sarifValidator();
    const broken = structuredClone(sarif);
    broken.runs[0].results[0].level = 'critical';

    expect(validate(broken)).toBe(false);
    expect(validate.errors?.[0]?.instancePath).toBe('/runs/0/results/0/level');
  });

  it('writes one SARIF result per failing finding', () => {
    const results = sarif.runs[0].results;
    const rules = sarif.runs[0].tool.driver.rules;

    expect(results).toHaveLength(juiceShopSummary.failing);
    expect(sarif.runs[0].properties.decision).toBe('FAIL');
    expect(new Set(rules.map((rule: any) => rule.id)).size).toBe(rules.length);
    expect(results.every((result: any) => rules[result.ruleIndex].id === result.ruleId)).toBe(true);
    expect(results.filter((result: any) => result.properties.origin === 'BASE')).toEqual([]);
    expect(rules.every((rule: any) => /^https:\/\//.test(rule.helpUri))).toBe(true);
  });

  it('gives SARIF levels by severity', () => {
    const critical = sarif.runs[0].results.find((result: any) => result.ruleId === juiceShopSummary.criticalIds[0]);

    expect(critical.level).toBe('error');
    expect(critical.locations[0].logicalLocations[1].name).toContain(juiceShopDigest);
    expect(typeof critical.properties.risk).toBe('number');
  });

  it('writes well-formed JUnit with the failures', () => {
    expect(XMLValidator.validate(junit)).toBe(true);

    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(junit);
    const suite = parsed.testsuites.testsuite;
    const cases = Array.isArray(suite.testcase) ? suite.testcase : [suite.testcase];

    expect(Number(suite.failures)).toBe(juiceShopSummary.failing);
    expect(cases.filter((testcase: any) => testcase.failure !== undefined)).toHaveLength(juiceShopSummary.failing);
  });

  it('names the failing findings in Markdown', () => {
    expect(run.stdout).toMatch(/^### Stratum gate: FAIL/);
    for (const id of juiceShopSummary.criticalIds) expect(run.stdout).toContain(id);
    expect(run.stdout).toMatch(/\| in base layers \(fixed by updating the base image\) \| \d+ \|/);
  });
});

describe('stratum-gate on a passing image', () => {
  it('exits 0 when criticals are base-layer or not affected', async () => {
    const sarifPath = join(dataDir, 'xjoin.sarif');
    const run = await gate(['--url', server.url, '--image-digest', xjoinDigest, '--wait', '0', '--sarif', sarifPath, '--markdown', '-']);
    const sarif = JSON.parse(await readFile(sarifPath, 'utf8'));
    const validate = sarifValidator();

    expect(run.code).toBe(0);
    expect(validate(sarif)).toBe(true);
    expect(sarif.runs[0].results).toEqual([]);
    expect(sarif.runs[0].properties.decision).toBe('PASS');
    expect(run.stdout).toContain('| not affected according to VEX | 2 |');
  });

  it('exits 1 with a policy that fails on base', async () => {
    const policyPath = join(dataDir, 'base-policy.json');
    await writeFile(policyPath, JSON.stringify({ failOnBase: true, rules: [{ name: 'Any critical', severities: ['CRITICAL'] }] }));

    const run = await gate(['--url', server.url, '--image-digest', xjoinDigest, '--wait', '0', '--policy', policyPath, '--junit', '-']);

    expect(run.code).toBe(1);
    expect(run.stdout).toContain('fails rule &quot;Any critical&quot;');
    expect(run.stderr).toContain('(base, risk');
  });
});

describe('stratum-gate waiting', () => {
  it('exits 3 when the wait runs out', async () => {
    const run = await gate(['--url', server.url, '--image-digest', UNKNOWN_DIGEST, '--wait', '1', '--junit', '-']);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain('timed out after 1 s waiting for a decision (IMAGE_NOT_FOUND)');
    expect(run.stderr).toContain('stratum-gate: waiting');
    expect(run.stdout).toContain('type="PENDING"');
  });

  it('exits 0 on timeout with --timeout-passes', async () => {
    const run = await gate(['--url', server.url, '--image-digest', UNKNOWN_DIGEST, '--wait', '0', '--timeout-passes', '--markdown', '-']);

    expect(run.code).toBe(0);
    expect(run.stderr).toContain('passing because of --timeout-passes');
    expect(run.stdout).toContain('no decision (timed out, passing as configured)');
  });

  it('does not wait for an unknown repository', async () => {
    const run = await gate(['--url', server.url, '--repository', 'docker.io/bkimminich/juice-shop', '--tag', 'v12.10.2', '--markdown', '-']);

    expect(run.code).toBe(3);
    expect(run.stderr).not.toContain('stratum-gate: waiting');
    expect(run.stderr).toContain('Repository docker.io/bkimminich/juice-shop is not known in this tenant');
    expect(run.stderr).toContain('Stored repositories with the same path: bkimminich/juice-shop');
    expect(run.stderr).toContain('pass --wait SECONDS to wait for its first image');
    expect(run.stdout).toContain('Repository docker.io/bkimminich/juice-shop is not known in this tenant');
  });

  it('waits for an unknown repository with --wait', async () => {
    const run = await gate(['--url', server.url, '--repository', 'team/never-pushed', '--tag', '1', '--wait', '1']);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain('stratum-gate: waiting');
    expect(run.stderr).toContain('Repository team/never-pushed is not known in this tenant');
    expect(run.stderr).toContain('timed out after 1 s');
  });

  it('waits for a new tag of a known repository', async () => {
    const run = await gate(['--url', server.url, '--repository', 'bkimminich/juice-shop', '--tag', 'not-pushed-yet', '--wait', '1']);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain('stratum-gate: waiting');
    expect(run.stderr).not.toContain('is not known in this tenant');
  });

  it('decides once the scan arrives', async () => {
    const digest = `sha256:${createHash('sha256').update('stratum-gate wait test').digest('hex')}`;
    const child = spawn(process.execPath, [BIN, '--url', server.url, '--image-digest', digest, '--wait', '60'], { env: { PATH: process.env.PATH ?? '' } });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    // The report is uploaded only after the client has reported that it waits, as a scan finishing during the wait would be.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        if (stderr.includes('stratum-gate: waiting')) resolve();
      });
    });
    const report = readFixture<any>(XJOIN);
    await graphql(`mutation ($report: JSON!, $digest: String, $repository: String) { ingestScanReport(input: { report: $report, digest: $digest, repository: $repository }) { findingCount } }`, {
      report: { ...report, source: { ...report.source, target: { ...report.source.target, manifestDigest: digest, repoDigests: [], imageID: undefined, userInput: 'team/waited:1' } } },
      digest,
      repository: 'team/waited',
    });

    expect(await exited).toBe(1);
    expect(stderr).toContain(`Image ${digest} is not known yet`);
    expect(stderr).toContain(`stratum-gate: FAIL for team/waited@${digest}`);
  });
});

describe('stratum-gate arguments', () => {
  it.each([
    { name: 'missing tag', args: ['--url', 'http://127.0.0.1:9', '--repository', 'team/app'], message: '--tag' },
    { name: 'missing url', args: ['--image-digest', UNKNOWN_DIGEST], message: '--url' },
    { name: 'invalid wait', args: ['--url', 'http://127.0.0.1:9', '--image-digest', UNKNOWN_DIGEST, '--wait', 'soon'], message: '--wait' },
    { name: 'short digest', args: ['--url', 'http://127.0.0.1:9', '--image-digest', 'sha256:abc'], message: '--image-digest' },
    { name: 'unknown option', args: ['--url', 'http://127.0.0.1:9', '--image', 'x'], message: "'--image'" },
    { name: 'two stdout reports', args: ['--url', 'http://127.0.0.1:9', '--image-digest', UNKNOWN_DIGEST, '--sarif', '-', '--junit', '-'], message: '--sarif and --junit' },
    { name: 'ftp url', args: ['--url', 'ftp://127.0.0.1/', '--image-digest', UNKNOWN_DIGEST], message: '--url' },
    { name: 'negative wait', args: ['--url', 'http://127.0.0.1:9', '--image-digest', UNKNOWN_DIGEST, '--wait', '-5'], message: 'Invalid --wait "-5": expected a number of seconds from 0 to 86400' },
  ])('exits 2 on $name', async ({ args, message }) => {
    const run = await gate(args);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('exits 2 on a missing policy file', async () => {
    const run = await gate(['--url', server.url, '--image-digest', xjoinDigest, '--policy', join(dataDir, 'no-such-policy.json')]);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Invalid --policy');
    expect(run.stderr).toContain('ENOENT');
  });

  it('exits 2 on a policy the server rejects', async () => {
    const policyPath = join(dataDir, 'bad-policy.json');
    await writeFile(policyPath, JSON.stringify({ rules: [{ name: 'Base', origins: ['BASE'] }] }));

    const run = await gate(['--url', server.url, '--image-digest', xjoinDigest, '--policy', policyPath]);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('failOnBase');
  });

  it('exits 2 when the server is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const run = await gate(['--url', `http://127.0.0.1:${port}`, '--image-digest', xjoinDigest, '--wait', '0'], {});

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Could not reach the Stratum server');
  });
});

describe('stratum-gate reports on exit 2', () => {
  let run: Run;
  let sarif: any;
  let junit: string;
  let markdown: string;

  beforeAll(async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    run = await gate([
      '--url', `http://127.0.0.1:${port}`,
      '--image-digest', xjoinDigest,
      '--wait', '0',
      '--sarif', join(dataDir, 'unreachable.sarif'),
      '--junit', join(dataDir, 'unreachable.xml'),
      '--markdown', join(dataDir, 'unreachable.md'),
    ]);
    sarif = JSON.parse(await readFile(join(dataDir, 'unreachable.sarif'), 'utf8'));
    junit = await readFile(join(dataDir, 'unreachable.xml'), 'utf8');
    markdown = await readFile(join(dataDir, 'unreachable.md'), 'utf8');
  });

  it('keeps exit code 2', () => {
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Could not reach the Stratum server');
  });

  it('writes valid SARIF without results', () => {
    const validate = sarifValidator();
    const valid = validate(sarif);

    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(sarif.runs[0].results).toEqual([]);
  });

  it('marks the SARIF invocation unsuccessful', () => {
    const invocation = sarif.runs[0].invocations[0];

    expect(invocation.executionSuccessful).toBe(false);
    expect(invocation.exitCode).toBe(2);
    expect(invocation.toolExecutionNotifications[0].level).toBe('error');
    expect(invocation.toolExecutionNotifications[0].message.text).toContain('Could not reach the Stratum server');
  });

  it('writes JUnit with one errored case', () => {
    const parsed = new XMLParser({ ignoreAttributes: false }).parse(junit);
    const suite = parsed.testsuites.testsuite;

    expect(XMLValidator.validate(junit)).toBe(true);
    expect(suite['@_tests']).toBe('1');
    expect(suite['@_errors']).toBe('1');
    expect(suite['@_failures']).toBe('0');
    expect(suite.testcase.error['@_message']).toContain('Could not reach the Stratum server');
  });

  it('writes Markdown saying why', () => {
    expect(markdown).toContain('### Stratum gate: could not run');
    expect(markdown).toContain('Could not reach the Stratum server');
    expect(markdown).toContain(xjoinDigest);
  });

  it('writes reports on invalid arguments', async () => {
    const path = join(dataDir, 'bad-wait.md');
    const invalid = await gate(['--url', server.url, '--image-digest', xjoinDigest, '--wait', 'soon', '--markdown', path]);

    expect(invalid.code).toBe(2);
    expect(await readFile(path, 'utf8')).toContain('Invalid --wait "soon"');
  });
});

describe('stratum-gate with an API key', () => {
  const KEY = 'gate-test-key-1';
  let keyed: Server;
  let url: string;

  beforeAll(async () => {
    const hash = createHash('sha256').update(KEY).digest('hex');
    const yoga = createGraphQLServer({ store: server.store, clock: fixedClock('2026-12-04T12:00:00Z'), logger: silentLogger, authenticate: apiKeyAuthenticator(`${hash}=local`) });
    keyed = createServer(yoga);
    await new Promise<void>((resolve) => keyed.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(keyed.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => keyed.close(() => resolve()));
  });

  it('sends STRATUM_TOKEN as the API key', async () => {
    const run = await gate(['--image-digest', xjoinDigest, '--wait', '0'], { STRATUM_URL: url, STRATUM_TOKEN: KEY });

    expect(run.code).toBe(0);
    expect(run.stderr).toContain('stratum-gate: PASS');
  });

  it('exits 2 on a wrong token', async () => {
    const run = await gate(['--url', url, '--token', 'wrong', '--image-digest', xjoinDigest, '--wait', '0']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('rejected the credential');
    expect(run.stderr).toContain('--token');
  });
});
