import { builder } from '../builder.ts';

import './scalars.ts';
import './enums.ts';
import './layer.ts';
import './finding.ts';
import './image.ts';
import './vulnerability.ts';
import './ingest.ts';
import './vex.ts';
import './triage.ts';
import './analysis.ts';
import './gate.ts';
import './alerts.ts';
import './governance.ts';

export const schema = builder.toSchema({ sortSchema: true });
