export { runGate, runFromProcess, CLIENT_VERSION, type ConsoleStreams } from './main.ts';
export { parseOptions, parseRequestedReports, EXIT, USAGE, UsageError, DEFAULT_WAIT_SECONDS, type GateOptions } from './options.ts';
export { requestGate, GateRequestError, type GateVariables } from './client.ts';
export { waitForDecision, type WaitOptions, type WaitOutcome } from './wait.ts';
export { toSarif, toSarifError, sarifLevel, helpUri, SARIF_SCHEMA_URI } from './sarif.ts';
export { toJUnit, toJUnitError, escapeXml, type JUnitOptions } from './junit.ts';
export { toMarkdown, toMarkdownError, MAX_TABLE_ROWS, type MarkdownOptions } from './markdown.ts';
export { GATE_QUERY, imageName, type GateResultView, type GateFindingView, type GateDecision, type GateRequestTarget } from './gate-result.ts';
