import { beforeAll } from 'vitest';
import { describeAlertsStack } from './stacks/alerts.ts';
import { describeAnalysisStack } from './stacks/analysis.ts';
import { describeApiStack } from './stacks/api.ts';
import { describeEventsStack } from './stacks/events.ts';
import { describeHandlerFunctions } from './stacks/functions.ts';
import { describeSchedulesStack } from './stacks/schedules.ts';
import { describeStorageStack } from './stacks/storage.ts';
import { synthesizeApp, type StackTemplates } from './stacks/synthesize.ts';

// Only this test file synthesizes the app, and the checks of every stack run against that one synthesis.
let templates: StackTemplates | undefined;

const synthesized = (): StackTemplates => {
  if (!templates) throw new Error('App synthesis failed or did not run. See the beforeAll hook error in test/stacks.test.ts.');
  return templates;
};

// Synthesis bundles every function with esbuild. It took 15 to 25 s on a 2-core machine and can take several
// times longer while other test files run in parallel, so this hook gets more than the global 60 s hook timeout.
beforeAll(async () => {
  templates = await synthesizeApp();
}, 300_000);

describeStorageStack(synthesized);
describeEventsStack(synthesized);
describeHandlerFunctions(synthesized);
describeApiStack(synthesized);
describeAlertsStack(synthesized);
describeAnalysisStack(synthesized);
describeSchedulesStack(synthesized);
