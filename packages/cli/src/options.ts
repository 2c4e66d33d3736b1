import { parseArgs } from 'node:util';

/** Exit codes of stratum-gate, which pipelines branch on. */
export const EXIT = {
  PASS: 0,
  FAIL: 1,
  /** Bad arguments, an unreadable policy file, a server that cannot be reached or rejects the request. */
  ERROR: 2,
  /** The result was still PENDING when --wait ran out. */
  TIMED_OUT: 3,
} as const;

/** A problem the user fixes in the command line or the environment. The client exits with EXIT.ERROR. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface GateOptions {
  /** The GraphQL endpoint, ending in /graphql. */
  endpoint: string;
  token?: string;
  imageDigest?: string;
  repository?: string;
  tag?: string;
  policyFile?: string;
  /** How long to wait for a PENDING result to be decided, in seconds. */
  waitSeconds: number;
  /** True when --wait was given, which makes the client wait even for a repository the server has never stored. */
  waitExplicit: boolean;
  sarif?: string;
  junit?: string;
  markdown?: string;
  /** Exit 0 instead of 3 when the wait runs out. */
  timeoutPasses: boolean;
}

export const DEFAULT_WAIT_SECONDS = 300;

export const USAGE = `Usage: stratum-gate (--image-digest DIGEST | --repository REPO --tag TAG) [options]

Asks a Stratum server whether an image may ship under a gate policy.

Options:
  --url URL             Stratum server, such as https://stratum.example.com (default: $STRATUM_URL)
  --token TOKEN         API key, sent in the x-api-key header (default: $STRATUM_TOKEN)
  --image-digest DIGEST Image to evaluate, by manifest digest (sha256:...)
  --repository REPO     Image to evaluate, by repository, together with --tag
  --tag TAG             Tag of --repository
  --policy FILE         Gate policy as a JSON file; without it the tenant's GATE workflows or the default policy apply
  --wait SECONDS        How long to wait for a scan still running (default: ${DEFAULT_WAIT_SECONDS}; 0 checks once).
                        Without --wait the client checks once when the server has no image of --repository at all
  --timeout-passes      Exit 0 instead of 3 when the wait runs out
  --sarif FILE          Write the result as SARIF 2.1.0 ('-' for stdout)
  --junit FILE          Write the result as JUnit XML ('-' for stdout)
  --markdown FILE       Write a Markdown summary for pull request comments ('-' for stdout)
  --help                Show this help

Exit codes: 0 PASS, 1 FAIL, 2 usage or connection error, 3 timed out waiting for a decision.`;

function endpointOf(value: string, option: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`Invalid ${option} ${JSON.stringify(value)}: expected an http or https URL such as http://127.0.0.1:4000`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`Invalid ${option} ${JSON.stringify(value)}: expected an http or https URL, not ${url.protocol}`);
  }

  // Both the server's base URL and its GraphQL endpoint are accepted.
  if (!url.pathname.endsWith('/graphql')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/graphql`;
  return url.toString();
}

/**
 * Parses the command line. Returns undefined for --help. Every error names the option and
 * what was expected.
 */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): GateOptions | undefined {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (error) {
    // node:util names the unknown or malformed option in its message.
    throw new UsageError((error as Error).message);
  }
  if (values.help) return undefined;

  const url = values.url ?? env.STRATUM_URL;
  if (!url) throw new UsageError('Missing --url: pass the Stratum server URL with --url or set STRATUM_URL');

  const token = values.token ?? env.STRATUM_TOKEN;
  if (values.token === '') throw new UsageError('Invalid --token: the value is empty, so pass the API key or leave --token out');

  if (values['image-digest'] && (values.repository || values.tag)) {
    throw new UsageError('Invalid options: pass either --image-digest, or --repository with --tag, not both');
  }
  if (!values['image-digest'] && !values.repository && !values.tag) {
    throw new UsageError('Missing image: pass --image-digest, or --repository with --tag');
  }
  if (values.repository && !values.tag) throw new UsageError('Missing --tag: --repository needs the tag to evaluate');
  if (values.tag && !values.repository) throw new UsageError('Missing --repository: --tag needs the repository it belongs to');
  if (values['image-digest'] && !/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/.test(values['image-digest'])) {
    throw new UsageError(`Invalid --image-digest ${JSON.stringify(values['image-digest'])}: expected sha256: followed by 64 lowercase hex characters`);
  }

  const waitText = values.wait ?? String(DEFAULT_WAIT_SECONDS);
  const waitSeconds = Number(waitText);
  if (!/^\d+(\.\d+)?$/.test(waitText) || !Number.isFinite(waitSeconds) || waitSeconds > 86_400) {
    throw new UsageError(`Invalid --wait ${JSON.stringify(waitText)}: expected a number of seconds from 0 to 86400`);
  }

  const toStdout = (['sarif', 'junit', 'markdown'] as const).filter((name) => values[name] === '-');
  if (toStdout.length > 1) {
    throw new UsageError(`Invalid options: ${toStdout.map((name) => `--${name}`).join(' and ')} both write to stdout, so give all but one a file name`);
  }

  return {
    endpoint: endpointOf(url, values.url ? '--url' : 'STRATUM_URL'),
    token: token || undefined,
    imageDigest: values['image-digest'],
    repository: values.repository,
    tag: values.tag,
    policyFile: values.policy,
    waitSeconds,
    waitExplicit: values.wait !== undefined,
    sarif: values.sarif,
    junit: values.junit,
    markdown: values.markdown,
    timeoutPasses: values['timeout-passes'] ?? false,
  };
}

/** The report files and image a command line requests, as far as they can be read from it. */
export interface RequestedReports {
  sarif?: string;
  junit?: string;
  markdown?: string;
  target: { imageDigest?: string; repository?: string; tag?: string };
}

/**
 * Reads only the report options and the image from a command line, so a run that ends with
 * EXIT.ERROR can still write its reports. Returns undefined when the command line cannot be
 * parsed at all or when more than one report goes to stdout, because then no report is safe to write.
 */
export function parseRequestedReports(argv: string[]): RequestedReports | undefined {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch {
    return undefined;
  }
  if (values.help) return undefined;

  const toStdout = (['sarif', 'junit', 'markdown'] as const).filter((name) => values[name] === '-');
  if (toStdout.length > 1) return undefined;

  return {
    sarif: values.sarif,
    junit: values.junit,
    markdown: values.markdown,
    target: { imageDigest: values['image-digest'], repository: values.repository, tag: values.tag },
  };
}

/**
 * Joins `--wait -5` into `--wait=-5`. node:util's parseArgs rejects an option value that starts
 * with a dash as ambiguous, and the range check should report the negative number instead.
 */
function joinNegativeNumbers(argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const next = argv[i + 1];
    if (argv[i] === '--wait' && next !== undefined && /^-\d/.test(next)) {
      joined.push(`--wait=${next}`);
      i += 1;
    } else {
      joined.push(argv[i]!);
    }
  }
  return joined;
}

function parse(argv: string[]) {
  return parseArgs({
    args: joinNegativeNumbers(argv),
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      'image-digest': { type: 'string' },
      repository: { type: 'string' },
      tag: { type: 'string' },
      policy: { type: 'string' },
      wait: { type: 'string' },
      sarif: { type: 'string' },
      junit: { type: 'string' },
      markdown: { type: 'string' },
      'timeout-passes': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
