/**
 * A static reader of POSIX shell and bash scripts. It does not run or fully parse the script:
 * it splits it into simple commands (through pipelines, lists, if, case, loops, functions,
 * command substitutions and trap strings) and keeps every command the script may run, in
 * every branch. Words that depend on variables are marked computed, so the caller can tell
 * a command it can follow from one it cannot.
 */

/** One word of a command after quote removal. */
export interface ShellWord {
  text: string;
  /** Contains an expansion (variable, command substitution, glob) whose value is not known statically. */
  computed: boolean;
  /** The word is exactly "$@" or "$*" (all positional parameters) or "$N" (one of them). */
  positional?: 'all' | number;
  /** Unquoted NAME=value at its start, an assignment when it precedes the command name. */
  assignment?: boolean;
}

export interface ShellCommand {
  words: ShellWord[];
}

export interface ShellScript {
  commands: ShellCommand[];
  /** Names of functions the script defines; calling them runs commands already listed. */
  functions: Set<string>;
}

type Token = { op: string } | { word: ShellWord };

const MAX_DEPTH = 8;

/** Splits a script into the simple commands it may run. */
export function parseShellScript(source: string, depth = 0): ShellScript {
  const script: ShellScript = { commands: [], functions: new Set() };
  if (depth > MAX_DEPTH) return script;

  const substitutions: string[] = [];
  const tokens = tokenize(stripHeredocs(source), substitutions);
  collectCommands(tokens, script);

  // Command substitutions and backquotes run their commands too.
  for (const inner of substitutions) {
    const nested = parseShellScript(inner, depth + 1);
    script.commands.push(...nested.commands);
    for (const name of nested.functions) script.functions.add(name);
  }
  return script;
}

/** Removes here-document bodies, which are data, not commands. */
function stripHeredocs(source: string): string {
  const lines = source.split('\n');
  const kept: string[] = [];
  const pending: Array<{ tag: string; tabs: boolean }> = [];

  for (const line of lines) {
    const open = pending[0];
    if (open) {
      const candidate = open.tabs ? line.replace(/^\t+/, '') : line;
      if (candidate === open.tag) pending.shift();
      kept.push('');
      continue;
    }
    kept.push(line);
    for (const match of line.matchAll(/<<(-?)\s*(['"]?)([A-Za-z_][\w-]*)\2/g)) pending.push({ tag: match[3] ?? '', tabs: match[1] === '-' });
  }
  return kept.join('\n');
}

function tokenize(source: string, substitutions: string[]): Token[] {
  const tokens: Token[] = [];
  let word: ShellWord | undefined;
  let raw = '';
  let i = 0;

  const start = (): ShellWord => (word ??= { text: '', computed: false });
  const finish = (): void => {
    if (word) {
      if (/^[A-Za-z_]\w*=/.test(raw)) word.assignment = true;
      tokens.push({ word });
    }
    word = undefined;
    raw = '';
  };

  while (i < source.length) {
    const c = source[i]!;

    if (c === ' ' || c === '\t' || c === '\r') {
      finish();
      i++;
    } else if (c === '\n') {
      finish();
      tokens.push({ op: ';' });
      i++;
    } else if (c === '#' && !word) {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '\\') {
      if (source[i + 1] !== '\n') start().text += source[i + 1] ?? '';
      raw += c;
      i += 2;
    } else if (c === "'") {
      const end = source.indexOf("'", i + 1);
      const stop = end < 0 ? source.length : end;
      start().text += source.slice(i + 1, stop);
      raw += source.slice(i, stop + 1);
      i = stop + 1;
    } else if (c === '"') {
      const current = start();
      const end = readDoubleQuoted(source, i + 1, current, substitutions);
      raw += source.slice(i, end + 1);
      i = end + 1;
    } else if (c === '$' || c === '`') {
      const current = start();
      const end = readExpansion(source, i, current, substitutions);
      raw += source.slice(i, end);
      i = end;
    } else if (c === '(' && source[i + 1] === '(' && !word) {
      // Arithmetic command (( ... )): no command runs inside.
      i = skipBalanced(source, i + 1, '(', ')') + 1;
      if (source[i] === ')') i++;
    } else if (';&|()'.includes(c)) {
      finish();
      const two = source.slice(i, i + 2);
      const op = [';;', '&&', '||', ';&', '|&'].includes(two) ? two : c;
      tokens.push({ op });
      i += op.length;
    } else if (c === '<' || c === '>') {
      // A redirection: drop a file descriptor number written just before it, and its target word.
      if (word && /^\d+$/.test(raw)) {
        word = undefined;
        raw = '';
      }
      finish();
      let j = i + 1;
      while (j < source.length && '<>&|-'.includes(source[j]!)) j++;
      while (source[j] === ' ' || source[j] === '\t') j++;
      const target: ShellWord = { text: '', computed: false };
      while (j < source.length && !' \t\n;&|()<>'.includes(source[j]!)) {
        if (source[j] === '"') j = readDoubleQuoted(source, j + 1, target, substitutions) + 1;
        else if (source[j] === "'") j = Math.max(source.indexOf("'", j + 1), j) + 1 || source.length;
        else if (source[j] === '$' || source[j] === '`') j = readExpansion(source, j, target, substitutions);
        else j++;
      }
      i = j;
    } else {
      if (c === '*' || c === '?' || c === '[') start().computed ||= c !== '[' || Boolean(word?.text);
      start().text += c;
      raw += c;
      i++;
    }
  }
  finish();
  return tokens;
}

/** Reads a double-quoted string from `i` (after the quote); returns the index of the closing quote. */
function readDoubleQuoted(source: string, i: number, word: ShellWord, substitutions: string[]): number {
  const startText = word.text;
  let j = i;
  while (j < source.length && source[j] !== '"') {
    const c = source[j]!;
    if (c === '\\' && '$`"\\\n'.includes(source[j + 1] ?? '')) {
      word.text += source[j + 1];
      j += 2;
    } else if (c === '$' || c === '`') {
      j = readExpansion(source, j, word, substitutions);
    } else {
      word.text += c;
      j++;
    }
  }
  // "$@" keeps every parameter as its own word; record it so the caller can hand over the arguments.
  const inner = source.slice(i, j);
  if (startText === '' && (inner === '$@' || inner === '${@}' || inner === '$*')) word.positional = 'all';
  const single = /^\$\{?(\d)\}?$/.exec(inner);
  if (startText === '' && single) word.positional = Number(single[1]);
  return j;
}

/** Reads $name, ${...}, $(...), $((...)) or `...` at `i`; returns the index after it. */
function readExpansion(source: string, i: number, word: ShellWord, substitutions: string[]): number {
  const c = source[i];
  const next = source[i + 1];
  word.computed = true;

  if (c === '`') {
    let j = i + 1;
    while (j < source.length && source[j] !== '`') j += source[j] === '\\' ? 2 : 1;
    substitutions.push(source.slice(i + 1, j).replace(/\\`/g, '`'));
    return j + 1;
  }
  if (next === '(' && source[i + 2] === '(') return skipBalanced(source, i + 1, '(', ')') + 1;
  if (next === '(') {
    const end = skipBalanced(source, i + 1, '(', ')');
    substitutions.push(source.slice(i + 2, end));
    return end + 1;
  }
  if (next === '{') {
    const end = skipBalanced(source, i + 1, '{', '}');
    const inner = source.slice(i + 2, end);
    if ((inner === '@' || inner === '*') && word.text === '') word.positional = 'all';
    else if (/^\d$/.test(inner) && word.text === '') word.positional = Number(inner);
    return end + 1;
  }
  if (next === '@' || next === '*') {
    if (word.text === '') word.positional = 'all';
    return i + 2;
  }
  if (next !== undefined && /\d/.test(next)) {
    if (word.text === '') word.positional = Number(next);
    return i + 2;
  }
  let j = i + 1;
  if (next !== undefined && /[#?$!-]/.test(next)) return i + 2;
  while (j < source.length && /\w/.test(source[j]!)) j++;
  if (j === i + 1) {
    word.computed = false;
    word.text += '$';
  }
  return j;
}

/** Index of the bracket that closes the one at `open`, skipping quoted text. */
function skipBalanced(source: string, open: number, left: string, right: string): number {
  let depth = 0;
  for (let j = open; j < source.length; j++) {
    const c = source[j];
    if (c === '\\') j++;
    else if (c === "'") j = source.indexOf("'", j + 1) < 0 ? source.length : source.indexOf("'", j + 1);
    else if (c === left) depth++;
    else if (c === right && --depth === 0) return j;
  }
  return source.length;
}

const RESERVED_PREFIX = new Set(['!', '{', '}', 'then', 'else', 'do', 'if', 'elif', 'while', 'until', 'time']);
const RESERVED_ALONE = new Set(['fi', 'done', 'esac', '}', '{']);

/** Groups tokens into simple commands and drops reserved words, assignments, case patterns and function headers. */
function collectCommands(tokens: Token[], script: ShellScript): void {
  let current: ShellWord[] = [];
  let caseDepth = 0;
  // After `case word in` and after each `;;`, the words up to ')' are a pattern, not a command.
  let inPattern = false;

  const flush = (): void => {
    let words = current;
    current = [];

    while (words[0] && !words[0].computed && RESERVED_PREFIX.has(words[0].text)) words = words.slice(1);
    while (words[0]?.assignment) words = words.slice(1);
    const first = words[0];
    if (!first) return;

    if (!first.computed && (first.text === 'case' || first.text === 'for' || first.text === 'select')) {
      // The header (`for x in list`, `case word in`) names no command; `for x in a; do` continues below.
      if (first.text === 'case') {
        caseDepth++;
        inPattern = true;
      }
      return;
    }
    if (!first.computed && RESERVED_ALONE.has(first.text)) return;
    if (!first.computed && first.text === 'function') {
      if (words[1]) script.functions.add(words[1].text);
      return;
    }
    script.commands.push({ words });
  };

  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index]!;

    if (inPattern) {
      if ('word' in token && !token.word.computed && token.word.text === 'esac' && current.length === 0) {
        caseDepth--;
        inPattern = false;
      } else if ('op' in token && token.op === ')') {
        inPattern = false;
        current = [];
      } else if ('word' in token) current.push(token.word);
      continue;
    }

    if ('word' in token) {
      if (caseDepth > 0 && current.length === 0 && !token.word.computed && token.word.text === 'esac') {
        caseDepth--;
        continue;
      }
      current.push(token.word);
      continue;
    }

    // name() { ... } defines a function: one word, then '(' and ')'.
    const after = tokens[index + 1];
    if (token.op === '(' && current.length === 1 && after && 'op' in after && after.op === ')') {
      script.functions.add(current[0]!.text);
      current = [];
      index++;
      continue;
    }
    if (token.op === '(' && current.length === 0) continue;
    flush();
    if (caseDepth > 0 && (token.op === ';;' || token.op === ';&')) inPattern = true;
  }
  flush();
}
