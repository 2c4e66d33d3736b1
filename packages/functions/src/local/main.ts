// Entry point of `npm start`: the local stack on an embedded store, no AWS account needed.
import { resolve } from 'node:path';

import { EXAMPLE_QUERY, startLocalServer } from './server.ts';

// The pinned AWS SDK supports Node 20; its warning is about later SDK releases, which this lockfile does not use.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const dataDir = resolve(process.env.STRATUM_DATA_DIR ?? '.stratum');
const port = Number(process.env.PORT ?? 4000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Invalid PORT ${JSON.stringify(process.env.PORT)}: expected a port number from 0 to 65535`);
  process.exit(1);
}

/** Turns the two usual start failures into a sentence that says what to do. */
function explain(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === 'EADDRINUSE') return `Port ${port} is already in use: stop the other process or start with another port, for example PORT=4001 npm start`;
  if (/Database is (closed|not open)|LOCK/.test(message ?? '')) {
    return `The data folder ${dataDir} is in use by another Stratum process or cannot be opened: stop that process, or set STRATUM_DATA_DIR to another folder`;
  }
  return `Stratum failed to start: ${message ?? String(error)}`;
}

let server: Awaited<ReturnType<typeof startLocalServer>>;
try {
  server = await startLocalServer({
    dataDir,
    port,
    host: process.env.HOST ?? '127.0.0.1',
    registryUrl: process.env.STRATUM_REGISTRY_URL,
    useAwsEcr: process.env.STRATUM_LOCAL_ECR === 'aws',
    analyzeOnPush: true,
  });
} catch (error) {
  console.error(explain(error));
  process.exit(1);
}

console.log(`
Stratum is running with its data in ${dataDir}

  GraphQL and GraphiQL:  ${server.url}/graphql
  EventBridge events:    POST ${server.url}/events
  Registry webhook:      POST ${server.url}/registry-events

Try this query in GraphiQL, or with curl:

${EXAMPLE_QUERY}

  curl -s ${server.url}/graphql -H 'content-type: application/json' \\
    -d '{"query":"{ vulnerability(id: \\"CVE-2021-42378\\") { occurrences(first: 5) { edges { node { image { repository } finding { package { name } origin } } } } } }"}'

Press Ctrl+C to stop.
`);

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
