import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Rewrites one graphql-js input error message so it names the path and the problem but not the
 * value. graphql-js 16 quotes the whole invalid input in variable coercion errors ("got invalid
 * value { token: ... }"), in literal errors ("found ...") and in scalar errors ("cannot represent
 * ...: value"), and input such as an alert channel carries secrets. Messages of other forms are
 * returned unchanged.
 */
export function redactInputErrorMessage(message: string): string {
  const variable = /^Variable "(\$[^"]+)" got invalid value (.*)$/s.exec(message);
  if (variable) {
    const [, name, rest] = variable as unknown as [string, string, string];
    const split = splitValueFromProblem(rest);
    const where = split.path ? ` at "${split.path}"` : '';
    return `Variable "${name}" got an invalid value${where}${split.problem ? `; ${redactProblem(split.problem)}` : '.'}`;
  }

  const literal = /^Expected value of type "([^"]+)", found .*?\.(?:; (.*))?$/s.exec(message);
  if (literal) {
    const [, type, problem] = literal;
    return `Expected value of type "${type}", found an invalid value${problem ? `; ${redactProblem(problem)}` : '.'}`;
  }

  return redactProblem(message);
}

/**
 * Splits the text after "got invalid value" into the optional path and the problem. The value is
 * printed first, then ` at "path"`, then `; problem`. A printed value quotes its strings with
 * JSON escapes, so `; ` or ` at "` inside a string is found by trying the last match first.
 */
function splitValueFromProblem(rest: string): { path?: string; problem?: string } {
  const withPath = /^.* at "([^"\\]*)"; (.*)$/s.exec(rest);
  if (withPath) return { path: withPath[1], problem: withPath[2] };

  const separator = rest.lastIndexOf('; ');
  if (separator >= 0) return { problem: rest.slice(separator + 2) };
  return {};
}

/** Removes the value from the scalar and enum messages graphql-js puts after a variable or literal error. */
function redactProblem(problem: string): string {
  const scalar = /^((?:\w+|Enum "[^"]+") cannot represent [^:]*?)(?: value)?: .*$/s.exec(problem);
  if (scalar) return `${scalar[1]} value.`;

  const enumValue = /^Value .* does not exist in "([^"]+)" enum\.(.*)$/s.exec(problem);
  if (enumValue) return `The value does not exist in the "${enumValue[1]}" enum.`;

  return problem;
}

function redactResult(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;

  const errors = result.errors.map((error) => {
    const message = redactInputErrorMessage(error.message);
    if (message === error.message) return error;
    return new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions: error.extensions });
  });
  return { ...result, errors };
}

/**
 * Creates a yoga plugin that keeps input values out of the GraphQL error messages of every
 * operation. A secret sent in a malformed input is then not echoed back or kept in a client's logs.
 */
export function useRedactedInputErrors(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result)) {
        setResult(result.map((item) => redactResult(item as ExecutionResult)));
        return;
      }
      if (result && typeof result === 'object' && 'errors' in result) setResult(redactResult(result as ExecutionResult));
    },
  };
}
