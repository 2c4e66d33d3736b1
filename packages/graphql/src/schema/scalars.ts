import { JSONResolver } from 'graphql-scalars';
import { Kind } from 'graphql';
import { InvalidInputError } from '@stratum/core';

import { builder } from '../builder.ts';

builder.addScalarType('JSON', JSONResolver);

builder.scalarType('DateTime', {
  description: 'A date and time in ISO 8601 form with a time zone, for example 2026-12-04T10:00:00Z.',
  serialize: (value) => String(value),
  parseValue: (value) => {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
      throw new InvalidInputError(`Invalid DateTime ${JSON.stringify(value)}: expected an ISO 8601 date and time`);
    }
    return new Date(value).toISOString();
  },
  parseLiteral: (node) => {
    if (node.kind !== Kind.STRING || Number.isNaN(Date.parse(node.value))) {
      throw new InvalidInputError('Invalid DateTime literal: expected an ISO 8601 date and time string');
    }
    return new Date(node.value).toISOString();
  },
});
