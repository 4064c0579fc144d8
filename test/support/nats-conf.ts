import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const NATS_CONF = fileURLToPath(new URL('../../deploy/compose/nats.conf', import.meta.url));

export interface NatsLogin {
  user: string;
  /** The environment variable the server reads the password from. */
  passwordVariable: string;
  publish: string[];
  subscribe: string[];
  allowResponses: boolean;
}

/**
 * The users of deploy/compose/nats.conf with their permissions, read from the file's own
 * layout (permission blocks assigned to variables, users referring to them), so other
 * deployments (the Helm values) can be compared with what the end-to-end test runs against.
 */
export function natsConfLogins(path = NATS_CONF): NatsLogin[] {
  const text = readFileSync(path, 'utf8').replace(/#.*$/gm, '');
  const blocks = new Map<string, string>();
  for (const match of text.matchAll(/^([A-Z_]+) = \{/gm)) blocks.set(match[1]!, balanced(text, match.index + match[0].length - 1));
  const users = [...text.matchAll(/\{\s*user:\s*([\w-]+),\s*password:\s*\$(\w+),\s*permissions:\s*\$(\w+)\s*\}/g)];
  if (users.length === 0) throw new Error(`${path}: no users found`);
  return users.map(([, user, passwordVariable, block]) => {
    const permissions = blocks.get(block!);
    if (permissions === undefined) throw new Error(`${path}: user ${user} refers to $${block}, which is not defined`);
    return {
      user: user!,
      passwordVariable: passwordVariable!,
      publish: allowList(permissions, 'publish'),
      subscribe: allowList(permissions, 'subscribe'),
      allowResponses: /allow_responses:\s*true/.test(permissions),
    };
  });
}

function allowList(block: string, kind: 'publish' | 'subscribe'): string[] {
  const at = block.indexOf(`${kind}:`);
  if (at === -1) return [];
  const section = balanced(block, block.indexOf('{', at));
  const list = /allow:\s*\[([^\]]*)\]/.exec(section)?.[1] ?? '';
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

/** The text from the brace at `open` to its matching close, inclusive. */
function balanced(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open, i + 1);
  }
  throw new Error('unbalanced braces in the NATS configuration');
}
