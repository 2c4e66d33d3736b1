// Writes the printed schema to packages/graphql/schema.graphql; a test fails when the file drifts.
import { writeFileSync } from 'node:fs';

import { printSchema } from 'graphql';

import { schema } from '../src/schema/index.ts';

const target = new URL('../schema.graphql', import.meta.url);
writeFileSync(target, `${printSchema(schema)}\n`);
console.log(`wrote ${target.pathname}`);
