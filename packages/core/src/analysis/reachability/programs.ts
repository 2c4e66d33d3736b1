import { baseName, normalizePath } from '../filesystem.ts';
import { parseShellScript, type ShellScript, type ShellWord } from './shell.ts';
import { commandName, findProgram } from './start.ts';
import type { PythonStart, ReachState } from './state.ts';

/**
 * Follows what a container starts: the entrypoint program, the shell scripts it runs, the
 * programs those scripts run, wrappers such as tini or gosu, and `npm start`. Node.js and
 * Python programs are queued for their own import analyses.
 */

/** An argument whose value is not known statically. */
type Arg = string | null;

const MAX_DEPTH = 16;

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'hush', 'ksh', 'mksh', 'zsh']);
/** busybox applets that run other programs, apart from the shells and the wrappers in WRAPPERS. */
const BUSYBOX_RUNNERS = new Set(['xargs', 'find', 'awk', 'su', 'start-stop-daemon', 'crond', 'init', 'runsv', 'runsvdir', 'watch', 'time', 'flock', 'run-parts', 'script', 'setuidgid', 'envdir', 'envuidgid', 'softlimit', 'chrt', 'linux32', 'linux64', 'setarch', 'inetd', 'tcpsvd', 'udpsvd', 'httpd', 'sed', 'vi', 'less', 'ssh']);
const NODE = /^(node|nodejs)(\d+)?$/;
const PYTHON = /^python(\d+(\.\d+)?)?$/;
/** Programs whose code the analysis does not follow: anything in the image may run under them. */
const OPAQUE = /^(java|perl[\d.]*|ruby[\d.]*|php[\d.]*(-fpm)?|lua[\d.]*|Rscript|dotnet|bun|deno)$/;

/** Shell builtins that run no program (`enable -f` is handled apart: it loads a library). */
const SHELL_BUILTINS = new Set([
  ':', '.', '[', '[[', ']]', 'alias', 'bg', 'bind', 'break', 'builtin', 'caller', 'cd', 'command', 'compgen', 'complete',
  'continue', 'declare', 'dirs', 'disown', 'echo', 'enable', 'eval', 'exec', 'exit', 'export', 'false', 'fg', 'getopts',
  'hash', 'help', 'history', 'jobs', 'kill', 'let', 'local', 'logout', 'mapfile', 'popd', 'printf', 'pushd', 'pwd', 'read',
  'readarray', 'readonly', 'return', 'set', 'shift', 'shopt', 'source', 'suspend', 'test', 'times', 'trap', 'true', 'type',
  'typeset', 'ulimit', 'umask', 'unalias', 'unset', 'wait',
]);

/**
 * Programs that run the command in their arguments with execve: how many leading arguments
 * they take before the command, and which options take a value. The analysis follows the
 * command, so their own exec imports leave nothing unseen.
 */
const WRAPPERS: Record<string, { skip: number; valueOptions: string[]; assignments?: boolean; separator?: boolean }> = {
  env: { skip: 0, valueOptions: ['-u', '--unset', '-C', '--chdir'], assignments: true },
  nohup: { skip: 0, valueOptions: [] },
  nice: { skip: 0, valueOptions: ['-n', '--adjustment'] },
  setsid: { skip: 0, valueOptions: [] },
  stdbuf: { skip: 0, valueOptions: ['-i', '-o', '-e'] },
  timeout: { skip: 1, valueOptions: ['-s', '--signal', '-k', '--kill-after'] },
  ionice: { skip: 0, valueOptions: ['-c', '--class', '-n', '--classdata', '-p', '-P', '-u'] },
  taskset: { skip: 1, valueOptions: [] },
  chroot: { skip: 1, valueOptions: ['--userspec', '--groups'] },
  tini: { skip: 0, valueOptions: ['-p', '-e'], separator: true },
  'tini-static': { skip: 0, valueOptions: ['-p', '-e'], separator: true },
  'dumb-init': { skip: 0, valueOptions: ['-r', '--rewrite'], separator: true },
  catatonit: { skip: 0, valueOptions: [], separator: true },
  gosu: { skip: 1, valueOptions: [] },
  'su-exec': { skip: 1, valueOptions: [] },
  runuser: { skip: 0, valueOptions: ['-u', '-g', '-G', '--user', '--group'], separator: true },
  chpst: { skip: 0, valueOptions: ['-u', '-U', '-b', '-e', '-/', '-n', '-l', '-L', '-m', '-d', '-o', '-p', '-f', '-c', '-r', '-t'] },
  'sudo': { skip: 0, valueOptions: ['-u', '--user', '-g', '--group', '-C', '-D', '-h', '-p', '-r', '-t', '-U'] },
  'setpriv': { skip: 0, valueOptions: ['--reuid', '--regid', '--groups', '--inh-caps', '--ambient-caps', '--bounding-set', '--securebits', '--selinux-label', '--apparmor-profile'], separator: true },
};

interface Launch {
  argv: Arg[];
  chain: string[];
  depth: number;
  /** PATH entries searched before the image's PATH, such as node_modules/.bin under npm. */
  extraPath?: string[];
}

/** Follows the container's start command and everything it runs that can be read statically. */
export async function followStart(state: ReachState, argv: string[]): Promise<void> {
  if (argv.length === 0) {
    state.opaque.push('the image config has neither Entrypoint nor Cmd, so the container runs whatever command it is given');
    return;
  }
  await launch(state, { argv, chain: [], depth: 0 });
}

async function launch(state: ReachState, request: Launch): Promise<void> {
  const [argv0, ...args] = request.argv;
  if (request.depth > MAX_DEPTH) {
    state.warn(`started programs nest deeper than ${MAX_DEPTH} levels; the analysis stopped at ${String(argv0)}`);
    state.execOpen.push(`programs nest deeper than ${MAX_DEPTH} levels`);
    return;
  }
  if (argv0 === null || argv0 === undefined) {
    state.execOpen.push(`${describe(request.chain)} runs a command whose name is computed at run time`);
    return;
  }

  const key = request.argv.map((arg) => arg ?? '\u0000').join('\u0001');
  if (state.launched.has(key)) return;
  state.launched.add(key);

  const path = [...(request.extraPath ?? []), ...state.path];
  const found = findProgram(state.fs, argv0, path, state.workingDir);
  if (!found) {
    await launchUnfound(state, request, argv0, path);
    return;
  }

  const chain = [...request.chain, found.path];
  const name = commandName(found, argv0);
  const realName = baseName(found.real);
  state.reach(found.real, chain, 'entrypoint');
  state.started.push(found.path);

  if (name === 'npm' && (await runNpmScripts(state, args, chain, request.depth))) {
    // npm itself runs as a Node.js program; the scripts it starts were followed above.
    const cli = await npmCli(state, found.real);
    if (cli) state.nodeStarts.push({ interpreter: cli.interpreter, entries: [cli.script], workingDir: state.workingDir, chain, childProcessesFollowed: true });
    return;
  }

  const facts = state.elf(found.real);
  if (!facts) {
    await launchScript(state, found.path, args, chain, request);
    return;
  }
  state.elfRoots.push({ path: found.real, chain });

  if (realName === 'busybox') {
    await runBusybox(state, name === 'busybox' ? args[0] : name, name === 'busybox' ? args.slice(1) : args, chain, request);
    return;
  }

  const wrapper = WRAPPERS[name] ?? WRAPPERS[realName];
  if (SHELLS.has(name) || SHELLS.has(realName)) {
    await runShell(state, args, chain, request);
  } else if (wrapper) {
    const rest = wrappedCommand(args, wrapper);
    if (rest.length) await launch(state, { argv: rest, chain, depth: request.depth + 1, extraPath: request.extraPath });
  } else if (NODE.test(name) || NODE.test(realName)) {
    queueNode(state, found.real, args, chain, false);
  } else if (PYTHON.test(name) || PYTHON.test(realName) || /^python\d/.test(realName)) {
    queuePython(state, found.real, args, chain);
  } else if (OPAQUE.test(name) || OPAQUE.test(realName)) {
    state.opaque.push(`${found.path} runs code that this analysis does not follow`);
  } else if (!facts.dynamic) {
    state.execOpen.push(`${found.path} is statically linked, so the programs it may run are not visible`);
  } else if (facts.spawns.length) {
    state.execOpen.push(`${found.path} imports ${facts.spawns.join(', ')} and may run other programs`);
  }
}

/** Follows a busybox applet, named by the link busybox was started through or by its first argument. */
async function runBusybox(state: ReachState, applet: Arg | undefined, args: Arg[], chain: string[], request: Launch): Promise<void> {
  const label = chain[chain.length - 1] ?? 'busybox';
  const wrapper = typeof applet === 'string' ? WRAPPERS[applet] : undefined;

  if (typeof applet !== 'string') {
    state.execOpen.push(`${label} runs a busybox applet whose name is ${applet === null ? 'computed at run time' : 'missing'}`);
  } else if (SHELLS.has(applet)) {
    await runShell(state, args, chain, request);
  } else if (wrapper) {
    const rest = wrappedCommand(args, wrapper);
    if (rest.length) await launch(state, { argv: rest, chain, depth: request.depth + 1, extraPath: request.extraPath });
  } else if (BUSYBOX_RUNNERS.has(applet)) {
    state.execOpen.push(`${label} runs the busybox applet ${applet}, which may run other programs`);
  }
}

/**
 * Handles a command that PATH does not find. The container's own command then fails to start,
 * which the analysis does not take as proof that nothing runs. A script may have changed PATH,
 * so programs of that name in any bin folder of the image are followed instead.
 */
async function launchUnfound(state: ReachState, request: Launch, argv0: string, path: string[]): Promise<void> {
  if (request.chain.length === 0) {
    state.opaque.push(`the entrypoint ${argv0} is not in the image (PATH ${path.join(':')}), so what the container runs is unknown`);
    return;
  }

  const elsewhere = argv0.includes('/') ? [] : state.executablesNamed(argv0);
  if (!elsewhere.length) {
    state.warn(`${describe(request.chain)} runs ${argv0}, which is not in the image (PATH ${path.join(':')})`);
    return;
  }
  state.warn(`${describe(request.chain)} runs ${argv0}, which PATH does not find; following ${elsewhere.join(', ')} in case the script changes PATH`);
  for (const program of elsewhere) await launch(state, { ...request, argv: [program, ...request.argv.slice(1)] });
}

/** Follows a started file that is not ELF: a script with a #! line, or a shell script without one. */
async function launchScript(state: ReachState, path: string, args: Arg[], chain: string[], request: Launch): Promise<void> {
  const text = await state.readText(path);
  if (text === undefined) {
    state.opaque.push(`${path} is started but its content was not kept for analysis`);
    return;
  }

  const firstLine = text.slice(0, text.indexOf('\n') < 0 ? text.length : text.indexOf('\n'));
  if (!firstLine.startsWith('#!')) {
    // execve fails with ENOEXEC, and shells then run the file as a shell script.
    await runShellText(state, text, args, chain, request.depth, path);
    return;
  }

  // Linux passes everything after the interpreter as one argument; `env -S` splits it again.
  const shebang = firstLine.slice(2).trim();
  const cut = shebang.search(/\s/);
  const interpreter = cut < 0 ? shebang : shebang.slice(0, cut);
  const optional = cut < 0 ? [] : [shebang.slice(cut).trim()];
  const split = baseName(interpreter) === 'env' && optional[0]?.startsWith('-S') ? optional[0].replace(/^-S\s*/, '').split(/\s+/) : optional;
  await launch(state, { argv: [interpreter, ...split, path, ...args], chain: chain.slice(0, -1), depth: request.depth + 1, extraPath: request.extraPath });
}

function wrappedCommand(args: Arg[], wrapper: (typeof WRAPPERS)[string]): Arg[] {
  let index = 0;
  while (index < args.length) {
    const arg = args[index]!;
    if (arg === '--') {
      index++;
      break;
    }
    if (arg && wrapper.valueOptions.includes(arg)) index += 2;
    else if (arg?.startsWith('-') && arg.length > 1) index++;
    else if (wrapper.assignments && arg && /^[A-Za-z_]\w*=/.test(arg)) index++;
    else break;
  }
  return args.slice(index + wrapper.skip);
}

/** Follows a shell started as `sh -c 'string' [name args]`, `sh script args`, or with no script (interactive). */
async function runShell(state: ReachState, args: Arg[], chain: string[], request: Launch): Promise<void> {
  let index = 0;
  let command: Arg | undefined;

  while (index < args.length) {
    const arg = args[index]!;
    if (arg === '--' || arg === '-') {
      index++;
      break;
    }
    if (arg === null || !/^[-+]/.test(arg)) break;
    index++;
    if (arg === '-o' || arg === '+o' || arg === '-O' || arg === '+O') index++;
    else if (/^-[a-zA-Z]*c[a-zA-Z]*$/.test(arg)) {
      command = args[index];
      index++;
      break;
    }
  }

  const shellLabel = chain[chain.length - 1] ?? 'sh';
  if (command === null) {
    state.execOpen.push(`${shellLabel} -c runs a command string that is computed at run time`);
    return;
  }
  if (command !== undefined) {
    // After the string, the first argument is $0 and the rest are $1...
    await runShellText(state, command, args.slice(index + 1), chain, request.depth, `${shellLabel} -c`, request.extraPath);
    return;
  }

  const script = args[index];
  if (script === undefined) {
    state.execOpen.push(`${shellLabel} is started without a script, so it runs whatever commands it reads from its input`);
    return;
  }
  if (script === null) {
    state.execOpen.push(`${shellLabel} runs a script whose path is computed at run time`);
    return;
  }

  const found = findProgram(state.fs, script.includes('/') ? script : `./${script}`, [], state.workingDir) ?? findProgram(state.fs, script, state.path, state.workingDir);
  const text = found ? await state.readText(found.real) : undefined;
  if (!found || text === undefined) {
    state.execOpen.push(`${shellLabel} runs the script ${script}, which ${found ? 'was not kept for analysis' : 'is not in the image'}`);
    return;
  }
  const scriptChain = [...chain, found.path];
  state.reach(found.real, scriptChain, 'shell-entrypoint');
  await runShellText(state, text, args.slice(index + 1), scriptChain, request.depth, found.path, request.extraPath);
}

/** Follows every command a script may run. `positional` is $1...; null marks values unknown statically. */
export async function runShellText(
  state: ReachState,
  text: string,
  positional: Arg[] | undefined,
  chain: string[],
  depth: number,
  label: string,
  extraPath?: string[],
): Promise<void> {
  const script = parseShellScript(text);

  // `set -- words` and `shift` change "$@" from that line on. The analysis does not track the
  // order of lines, so it follows every command with each parameter list the script may have.
  const alternatives: Array<Arg[] | undefined> = [positional];
  for (const command of script.commands) {
    const [first, second, ...rest] = command.words;
    if (first?.text === 'set' && !first.computed && second?.text === '--') alternatives.push(expandWords(rest, positional));
    if (first?.text === 'shift' && !first.computed && positional) {
      const count = command.words[1] ? Number(command.words[1].text) : 1;
      alternatives.push(Number.isInteger(count) && !command.words[1]?.computed ? positional.slice(count) : undefined);
    }
  }
  for (const alternative of alternatives.slice(0, 8)) await runCommands(state, script, alternative, chain, depth, label, extraPath);
}

async function runCommands(state: ReachState, script: ShellScript, positional: Arg[] | undefined, chain: string[], depth: number, label: string, extraPath?: string[]): Promise<void> {
  for (const command of script.commands) {
    let argv = expandWords(command.words, positional);

    // exec, command and builtin run the rest of the line as a command.
    while (argv[0] === 'exec' || argv[0] === 'command' || argv[0] === 'builtin') {
      if (argv[0] === 'command' && (argv[1] === '-v' || argv[1] === '-V')) break;
      argv = argv.slice(1);
      while (argv[0]?.startsWith('-')) argv = argv.slice(argv[0] === '-a' ? 2 : 1);
    }
    const name = argv[0];
    if (name === undefined) continue;

    if (name === null) {
      state.execOpen.push(`${label} runs a command whose name is computed at run time`);
      continue;
    }
    if (name === 'eval') {
      state.execOpen.push(`${label} uses eval, which runs commands built at run time`);
      continue;
    }
    if (name === 'enable' && argv.includes('-f')) {
      state.dlopenOpen.push(`${label} loads a bash builtin from a shared library with enable -f`);
      continue;
    }
    if (name === 'trap' && typeof argv[1] === 'string') {
      await runShellText(state, argv[1], positional, chain, depth + 1, label, extraPath);
      continue;
    }
    if (name === '.' || name === 'source') {
      await sourceScript(state, argv[1], positional, chain, depth, label, extraPath);
      continue;
    }
    if (argv[0] === 'command' || SHELL_BUILTINS.has(name) || script.functions.has(name)) continue;

    await launch(state, { argv, chain, depth: depth + 1, extraPath });
  }
}

async function sourceScript(state: ReachState, target: Arg | undefined, positional: Arg[] | undefined, chain: string[], depth: number, label: string, extraPath?: string[]): Promise<void> {
  if (target === null || target === undefined) {
    state.execOpen.push(`${label} sources a file whose path is computed at run time`);
    return;
  }

  const found = findProgram(state.fs, target, target.includes('/') ? [] : [...state.path, state.workingDir], state.workingDir);
  const text = found ? await state.readText(found.real) : undefined;
  if (!found || text === undefined) {
    state.execOpen.push(`${label} sources ${target}, which ${found ? 'was not kept for analysis' : 'is not in the image'}`);
    return;
  }
  if (depth > MAX_DEPTH) return;

  const sourcedChain = [...chain, found.path];
  if (state.reach(found.real, sourcedChain, 'shell-entrypoint')) await runShellText(state, text, positional, sourcedChain, depth + 1, found.path, extraPath);
}

function expandWords(words: ShellWord[], positional: Arg[] | undefined): Arg[] {
  const argv: Arg[] = [];
  for (const word of words) {
    if (word.positional === 'all') {
      if (positional) argv.push(...positional);
      else argv.push(null);
    } else if (typeof word.positional === 'number') {
      argv.push(positional && word.positional > 0 ? (positional[word.positional - 1] ?? '') : null);
    } else argv.push(word.computed ? null : word.text);
  }
  return argv;
}

/** Queues a Node.js program; `npm start` and `npm run` go through here too. */
function queueNode(state: ReachState, interpreter: string, args: Arg[], chain: string[], childProcessesFollowed: boolean): void {
  const entries: string[] = [];
  let code: string | undefined;
  let index = 0;

  while (index < args.length) {
    const arg = args[index]!;
    if (arg === null) {
      state.nodeUnknownScopes.push({ dirs: ['/'], reason: `${describe(chain)} passes node an argument computed at run time` });
      return;
    }
    if (arg === '--') {
      index++;
      break;
    }
    if (!arg.startsWith('-')) break;
    index++;

    const option = arg.split('=')[0]!;
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : undefined;
    const takeValue = (): Arg | undefined => value ?? args[index++];
    if (['-r', '--require', '--import', '--loader', '--experimental-loader'].includes(option)) {
      const module = takeValue();
      if (typeof module === 'string') entries.push(module);
    } else if (['-e', '--eval', '-p', '--print'].includes(option)) {
      const source = takeValue();
      if (typeof source === 'string') code = source;
      else {
        state.nodeUnknownScopes.push({ dirs: ['/'], reason: `${describe(chain)} evaluates code computed at run time` });
        return;
      }
    } else if (['--input-type', '--title', '--conditions', '-C', '--env-file', '--inspect-port'].includes(option) && value === undefined) index++;
  }

  const script = args[index];
  if (typeof script === 'string') entries.push(normalizePath(script, state.workingDir));
  if (script === undefined && code === undefined) {
    state.nodeUnknownScopes.push({ dirs: ['/'], reason: `${describe(chain)} starts node without a script, which then runs whatever code it is given` });
    return;
  }
  state.nodeStarts.push({ interpreter, entries, code, workingDir: state.workingDir, chain, childProcessesFollowed });
}

const PYTHON_SERVERS = new Set(['gunicorn', 'uvicorn', 'hypercorn', 'daphne', 'granian']);

/** Queues a Python program: a script, `-m module`, `-c code`, and the application target of a WSGI or ASGI server. */
function queuePython(state: ReachState, interpreter: string, args: Arg[], chain: string[]): void {
  const start: PythonStart = { interpreter, scripts: [], modules: [], workingDir: state.workingDir, chain };
  let index = 0;
  let serverArgs: Arg[] | undefined;
  let server: string | undefined;

  while (index < args.length) {
    const arg = args[index]!;
    if (arg === null) {
      state.pythonUnknown.push(`${describe(chain)} passes python an argument computed at run time`);
      return;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    index++;
    if (arg === '-m' || arg === '-c') {
      const value = args[index++];
      if (typeof value !== 'string') {
        state.pythonUnknown.push(`${describe(chain)} passes python ${arg} a value computed at run time`);
        return;
      }
      if (arg === '-c') start.code = value;
      else {
        start.modules.push(value);
        if (PYTHON_SERVERS.has(value.split('.')[0]!)) {
          server = value.split('.')[0];
          serverArgs = args.slice(index);
        }
      }
      break;
    }
    if (arg === '-W' || arg === '-X' || arg === '--check-hash-based-pycs') index++;
  }

  const script = start.modules.length || start.code !== undefined ? undefined : args[index];
  if (typeof script === 'string') {
    start.scripts.push(script);
    const scriptName = baseName(script);
    if (PYTHON_SERVERS.has(scriptName)) {
      server = scriptName;
      serverArgs = args.slice(index + 1);
    }
  }
  if (script === undefined && !start.modules.length && start.code === undefined) {
    state.pythonUnknown.push(`${describe(chain)} starts python without a script, which then runs whatever code it is given`);
    return;
  }

  if (server && serverArgs) {
    const target = serverTarget(serverArgs);
    if (target) {
      start.modules.push(target.module);
      if (target.chdir) start.workingDir = normalizePath(target.chdir, state.workingDir);
      start.server = server;
    } else state.pythonUnknown.push(`${describe(chain)} starts ${server} without an application target the analysis can read`);
  }
  state.pythonStarts.push(start);
}

/** Options of gunicorn, uvicorn and their kind that take a separate value. */
const SERVER_VALUE_OPTIONS = new Set([
  '-b', '--bind', '-w', '--workers', '-k', '--worker-class', '-c', '--config', '--threads', '-t', '--timeout', '--host', '--port',
  '--log-level', '--access-logfile', '--error-logfile', '--log-config', '-e', '--env', '--pythonpath', '--app-dir', '--chdir',
  '--uds', '--fd', '--root-path', '--limit-concurrency', '--backlog', '--timeout-keep-alive', '--keep-alive', '--graceful-timeout',
  '--max-requests', '--max-requests-jitter', '-u', '--user', '-g', '--group', '--name', '-n', '--forwarded-allow-ips', '--loop', '--http',
  '--ws', '--interface', '--lifespan', '--env-file', '--ssl-keyfile', '--ssl-certfile', '--worker-connections', '--worker-tmp-dir',
  '--certfile', '--keyfile', '--statsd-host', '-p', '--pid', '--umask', '--access-logformat', '--workers-per-core',
]);

/** Reads `pkg.module:app` (or a bare module) from a server's arguments; --chdir and --app-dir move the import root. */
function serverTarget(args: Arg[]): { module: string; chdir?: string } | undefined {
  let chdir: string | undefined;
  let target: string | undefined;

  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (typeof arg !== 'string') continue;
    const [option, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (option === '--chdir' || option === '--app-dir') {
      const value = inline ?? args[index + 1];
      if (typeof value === 'string') chdir = value;
    }
    if (arg.startsWith('-')) {
      if (SERVER_VALUE_OPTIONS.has(option) && inline === undefined) index++;
      continue;
    }
    if (/^[A-Za-z_][\w.]*(:[A-Za-z_][\w.()'", ]*)?$/.test(arg)) target = arg;
  }
  if (!target) return undefined;
  return { module: target.split(':')[0]!, chdir };
}

/** `npm start` and `npm run NAME`: the package scripts in the working directory, run by sh with node_modules/.bin on PATH. */
async function runNpmScripts(state: ReachState, args: Arg[], chain: string[], depth: number): Promise<boolean> {
  const verb = args[0];
  let name: Arg | undefined;
  if (verb === 'start' || verb === 'test' || verb === 'restart') name = verb;
  else if (verb === 'run' || verb === 'run-script') name = args[1];
  if (typeof name !== 'string') return false;

  const manifestPath = `${state.workingDir}/package.json`;
  const text = await state.readText(manifestPath);
  let scripts: Record<string, unknown> = {};
  try {
    const manifest: unknown = text === undefined ? undefined : JSON.parse(text);
    if (manifest && typeof manifest === 'object' && 'scripts' in manifest && manifest.scripts && typeof manifest.scripts === 'object') scripts = manifest.scripts as Record<string, unknown>;
  } catch {
    state.warn(`${manifestPath} is not valid JSON, so the scripts npm ${name} runs are unknown`);
  }

  const separator = args.indexOf('--');
  const extra = separator < 0 ? [] : args.slice(separator + 1);
  const bin = [`${normalizePath('node_modules/.bin', state.workingDir)}`];
  const manifestChain = [...chain, `${manifestPath} scripts.${name}`];
  state.reach(manifestPath, manifestChain, 'npm-script');

  const body = scripts[name] ?? (name === 'start' ? 'node server.js' : undefined);
  if (typeof body !== 'string') {
    state.warn(`npm ${name} has no script in ${manifestPath}`);
    return true;
  }
  for (const script of [scripts[`pre${name}`], body, scripts[`post${name}`]]) {
    if (typeof script !== 'string') continue;
    // npm appends the arguments after `--` to the script, quoted, and runs it with sh -c.
    const quoted = extra.map((arg) => (arg === null ? '"$1"' : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
    await runShellText(state, quoted ? `${script} ${quoted}` : script, [], manifestChain, depth + 1, `npm ${name}`, bin);
  }
  return true;
}

/** npm's entry script and the node its #! line names. */
async function npmCli(state: ReachState, script: string): Promise<{ interpreter: string; script: string } | undefined> {
  const text = await state.readText(script);
  const interpreterName = /^#!\s*(?:\S*\/env\s+)?(\S+)/.exec(text ?? '')?.[1];
  if (!interpreterName) return undefined;

  const interpreter = findProgram(state.fs, interpreterName, state.path, state.workingDir);
  return interpreter ? { interpreter: interpreter.real, script } : undefined;
}

export function describe(chain: string[]): string {
  return chain.length ? chain.join(' → ') : 'the entrypoint';
}
