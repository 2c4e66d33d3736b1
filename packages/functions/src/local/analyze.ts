// Entry point of `npm run analyze -- PATH`: analyses a local OCI image layout or docker save
// archive into the same store as `npm start`.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { consoleLogger, createDocumentClient, ensureTable, InvalidInputError, startLocalDynamo, Store, systemClock } from '@stratum/core';

import { analyzeLocalImage, detectImageSource, formatReport, type LocalAnalysisReport, type LocalAnalysisRequest } from './analyze-path.ts';
import { LOCAL_TENANT, TABLE_NAME } from './server.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const USAGE = `Usage: npm run analyze -- PATH [--reference TAG] [--repository NAME]

  PATH          an OCI image layout folder or a docker save archive
  --reference   the tag or digest to analyse when PATH holds several images
  --repository  the repository to record for an image Stratum has not seen yet

The result goes into the store of npm start (STRATUM_DATA_DIR, default .stratum). When npm start
is running, the analysis is sent to it (PORT, default 4000), because only one process can open
the store's folder.`;

const dataDir = resolve(process.env.STRATUM_DATA_DIR ?? '.stratum');
const port = process.env.PORT ?? '4000';
const serverUrl = `http://127.0.0.1:${port}`;

/**
 * Sends the request to a running local server; undefined when none listens on the port.
 * NOTE: fetch (undici) gives up when response headers take over 300 s, which an image of several GB may exceed.
 */
async function sendToServer(request: LocalAnalysisRequest): Promise<LocalAnalysisReport | undefined> {
  let response: Response;
  try {
    response = await fetch(`${serverUrl}/analyze`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') return undefined;
    throw error;
  }

  const body = (await response.json().catch(() => undefined)) as (LocalAnalysisReport & { error?: string }) | undefined;
  if (response.status === 404 || !body) throw new Error(`Port ${port} serves something other than a Stratum server with POST /analyze; stop it, or set PORT to the port of npm start`);
  if (!response.ok) throw new InvalidInputError(body.error ?? `The local server failed with HTTP ${response.status}`);
  return body;
}

/** Opens the store in this process, analyses, and closes it again. */
async function analyzeHere(request: LocalAnalysisRequest): Promise<LocalAnalysisReport> {
  // dynalite reports a folder that another process has open as an uncaught "Database is closed".
  process.once('uncaughtException', (error) => {
    console.error(/Database is (closed|not open)|LOCK/.test(error.message) ? `The data folder ${dataDir} is in use by another process: run npm start and send the analysis to it (PORT), or stop that process` : `Analysis failed: ${error.message}`);
    process.exit(1);
  });

  const dynamo = await startLocalDynamo({ path: resolve(dataDir, 'dynamodb') });
  const db = createDocumentClient({ endpoint: dynamo.endpoint });
  try {
    await ensureTable(db, TABLE_NAME);
    const store = new Store(db, TABLE_NAME).forTenant(LOCAL_TENANT);
    return await analyzeLocalImage(store, request, { clock: systemClock, logger: quietLogger });
  } finally {
    db.destroy();
    await dynamo.close();
  }
}

/** Keeps the terminal for the summary: only warnings and errors are logged. */
const quietLogger = { ...consoleLogger, info: () => {}, debug: () => {} };

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { reference: { type: 'string' }, repository: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help || positionals.length !== 1) {
    console.log(USAGE);
    process.exit(values.help ? 0 : 1);
  }

  // npm runs scripts from the repository root; INIT_CWD is the folder the user ran npm in, where a relative path starts.
  const path = resolve(process.env.INIT_CWD ?? process.cwd(), positionals[0]!);
  const request: LocalAnalysisRequest = { path, reference: values.reference, repository: values.repository };
  // A wrong path is reported before the store is opened or a server is contacted.
  await detectImageSource(request);
  const viaServer = await sendToServer(request);
  const report = viaServer ?? (await analyzeHere(request));

  console.log(formatReport(report, `${serverUrl}/graphql`, viaServer !== undefined));
}

try {
  await main();
} catch (error) {
  console.error(error instanceof InvalidInputError ? error.message : `Analysis failed: ${(error as Error).message}`);
  process.exit(1);
}
