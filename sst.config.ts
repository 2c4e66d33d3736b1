import type { SSTConfig } from 'sst';
import { Alerts } from './stacks/Alerts.ts';
import { Analysis } from './stacks/Analysis.ts';
import { Api } from './stacks/Api.ts';
import { Events } from './stacks/Events.ts';
import { Schedules } from './stacks/Schedules.ts';
import { Storage } from './stacks/Storage.ts';

export default {
  config() {
    return { name: 'stratum', region: 'us-east-1' };
  },
  stacks(app) {
    app.setDefaultFunctionProps({
      runtime: 'nodejs20.x',
      architecture: 'arm_64',
      // HTTP API integrations time out after at most 30 s, so the request handler stays well below.
      // The event handlers set their own limits.
      timeout: '10 seconds',
      memorySize: '1024 MB',
    });
    app.stack(Storage).stack(Alerts).stack(Analysis).stack(Events).stack(Api).stack(Schedules);
  },
} satisfies SSTConfig;
