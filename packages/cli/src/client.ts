import { GATE_QUERY, type GateResultView } from './gate-result.ts';

/** A failed request: a wrong URL, token or policy, or a server error. The client exits with EXIT.ERROR. */
export class GateRequestError extends Error {
  override readonly name = 'GateRequestError';

  constructor(
    message: string,
    /** True for responses that may succeed when repeated: 502, 503 and 504 from a proxy or a server starting up. */
    readonly retryable = false,
  ) {
    super(message);
  }
}

export interface GateVariables {
  imageDigest?: string;
  repository?: string;
  tag?: string;
  policy?: unknown;
}

/** Time one request may take before it counts as failed. */
const REQUEST_TIMEOUT_MS = 60_000;

interface GraphQLBody {
  data?: { evaluateGate?: GateResultView } | null;
  errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }>;
}

/** Sends the evaluateGate query once and returns its result, or throws a GateRequestError that names what to fix. */
export async function requestGate(endpoint: string, token: string | undefined, variables: GateVariables): Promise<GateResultView> {
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { 'x-api-key': token } : {}) },
      body: JSON.stringify({ query: GATE_QUERY, variables, operationName: 'StratumGate' }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new GateRequestError(`Could not reach the Stratum server at ${endpoint} (${detail}): check --url or STRATUM_URL`);
  }

  const text = await response.text();
  let body: GraphQLBody | undefined;
  try {
    body = JSON.parse(text) as GraphQLBody;
  } catch {
    body = undefined;
  }

  const firstError = body?.errors?.[0];
  if (firstError?.extensions?.code === 'UNAUTHENTICATED' || response.status === 401 || response.status === 403) {
    throw new GateRequestError(`The server at ${endpoint} rejected the credential (${firstError?.message ?? `HTTP ${response.status}`}): pass a valid API key with --token or STRATUM_TOKEN`);
  }
  if (firstError) {
    const field = firstError.extensions?.field ? ` (field ${firstError.extensions.field})` : '';
    throw new GateRequestError(`The server rejected the gate request: ${firstError.message}${field}`);
  }
  if (!response.ok || !body?.data?.evaluateGate) {
    const retryable = [502, 503, 504].includes(response.status);
    throw new GateRequestError(`Unexpected response from ${endpoint}: HTTP ${response.status} ${text.slice(0, 200)}`, retryable);
  }

  return body.data.evaluateGate;
}
