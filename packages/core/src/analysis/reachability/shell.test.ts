import { describe, expect, it } from 'vitest';
import { parseShellScript, type ShellWord } from './shell.ts';

/** Renders each command as its words, with computed words shown as `?` and "$@" as `$@`. */
function commands(source: string): string[] {
  const render = (word: ShellWord): string => {
    if (word.positional === 'all') return '$@';
    if (typeof word.positional === 'number') return `$${word.positional}`;
    return word.computed ? '?' : word.text;
  };
  return parseShellScript(source).commands.map((command) => command.words.map(render).join(' '));
}

describe('parseShellScript', () => {
  it.each([
    { name: 'simple commands and lists', source: 'set -e\nmkdir -p /data && chown app /data || true; echo done', expected: ['set -e', 'mkdir -p /data', 'chown app /data', 'true', 'echo done'] },
    { name: 'if branches', source: 'if [ "$1" = serve ]; then\n  exec nginx -g "daemon off;"\nelse\n  exec "$@"\nfi', expected: ['[ $1 = serve ]', 'exec nginx -g daemon off;', 'exec $@'] },
    { name: 'case patterns', source: 'case "$1" in\n  start|run) gosu app node server.js ;;\n  *) echo usage ;;\nesac\nexec tini -- "$@"', expected: ['gosu app node server.js', 'echo usage', 'exec tini -- $@'] },
    { name: 'functions', source: 'setup() {\n  cp /etc/a /etc/b\n}\nfunction other {\n  ls\n}\nsetup', expected: ['cp /etc/a /etc/b', 'ls', 'setup'] },
    { name: 'command substitution', source: 'VERSION="$(cat /etc/version | tr -d x)"\nexport VERSION', expected: ['export VERSION', 'cat /etc/version', 'tr -d x'] },
    { name: 'backquotes', source: 'HOST=`hostname -f`', expected: ['hostname -f'] },
    { name: 'here-documents', source: 'cat <<EOF > /etc/conf\ncurl http://example\nEOF\nrun-app', expected: ['cat', 'run-app'] },
    { name: 'redirections', source: 'app 2>&1 >/var/log/app.log </dev/null', expected: ['app'] },
    { name: 'comments and continuations', source: '# start\nexec \\\n  python3 -m app # trailing', expected: ['exec python3 -m app'] },
    { name: 'computed command names', source: '$CMD --flag\n"${RUNNER}" x', expected: ['? --flag', '? x'] },
    { name: 'for loops', source: 'for f in /docker-entrypoint.d/*.sh; do . "$f"; done', expected: ['. ?'] },
    { name: 'arithmetic', source: '(( n = n + 1 ))\necho $((n * 2))', expected: ['echo ?'] },
    { name: 'single quotes keep dollars', source: "sh -c 'exec app $HOME'", expected: ['sh -c exec app $HOME'] },
  ])('reads $name', ({ source, expected }) => {
    expect(commands(source)).toEqual(expected);
  });

  it('lists defined function names', () => {
    expect([...parseShellScript('a() { x; }\nfunction b { y; }').functions].sort()).toEqual(['a', 'b']);
  });
});
