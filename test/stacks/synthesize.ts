import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { getStack } from 'sst/constructs';
import { App } from 'sst/constructs/App.js';
import { initProject } from 'sst/project.js';
import config from '../../sst.config.ts';
import { Alerts } from '../../stacks/Alerts.ts';
import { Analysis } from '../../stacks/Analysis.ts';
import { Api } from '../../stacks/Api.ts';
import { Events } from '../../stacks/Events.ts';
import { Schedules } from '../../stacks/Schedules.ts';
import { Storage } from '../../stacks/Storage.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** CloudFormation templates of every stack in the app, keyed by stack. */
export type StackTemplates = {
  storage: Template;
  alerts: Template;
  analysis: Template;
  events: Template;
  api: Template;
  schedules: Template;
};

/**
 * Synthesizes the whole SST app in deploy mode, as `sst deploy` would, and returns its templates.
 * Synthesis bundles every Lambda function with esbuild and writes to .sst/artifacts. Two processes
 * that synthesize at the same time overwrite each other's artifacts, so call this once per test run.
 * After it returns, `use` and `getStack` from sst/constructs resolve against this app.
 */
export async function synthesizeApp(): Promise<StackTemplates> {
  // App.finish only skips its AWS bootstrap lookup when NODE_ENV is test.
  process.env.NODE_ENV = 'test';
  await initProject({ stage: 'test', region: 'us-east-1', root: ROOT });
  const app = new App({ mode: 'deploy', stage: 'test', region: 'us-east-1', account: '123456789012', name: 'stratum' });

  // Going through the config applies its default function props, and getStack below fails for any stack it leaves out.
  config.stacks(app);
  await app.finish();

  return {
    storage: Template.fromStack(getStack(Storage)),
    alerts: Template.fromStack(getStack(Alerts)),
    analysis: Template.fromStack(getStack(Analysis)),
    events: Template.fromStack(getStack(Events)),
    api: Template.fromStack(getStack(Api)),
    schedules: Template.fromStack(getStack(Schedules)),
  };
}
