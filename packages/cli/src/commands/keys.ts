import { Command, Option } from 'commander';
import { ENVIRONMENTS, type Environment } from '@signal/core';
import { appIdArg } from '../apps/app-id-arg.js';
import { appsFileOption } from '../apps/apps-file-option.js';
import { KEY_KINDS, keyViews, matchingSecretKeys, secretKeyHash, type KeyKind } from '../apps/key-views.js';
import { kidArg } from '../apps/kid-arg.js';
import { newKeys, secretKeyEntry } from '../apps/new-keys.js';
import { readAppsFile, type RawAppsFile, type RawEnvironment } from '../apps/read-apps-file.js';
import { LEGACY_TOKEN_SECRET, appendTokenSecret, newKid, newTokenSecret, removeTokenSecret, tokenSecretIds } from '../apps/token-secrets.js';
import { readTextFile } from '../input/read-text-file.js';
import { writeAppsFile } from '../apps/write-apps-file.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { printJson, printLines, printTable } from '../output/print.js';

interface KeysOptions {
  appsFile: string;
  app?: string;
  env?: Environment;
  kind?: KeyKind;
  json?: boolean;
}

interface AppLike {
  id: string;
}

/** The app named by --app, or the only one when the file has one. */
function selectApp<A extends AppLike>(file: { apps: A[] }, id: string | undefined, path: string): A {
  if (id === undefined) {
    if (file.apps.length === 1) return file.apps[0]!;
    throw usageError(`${path} has ${file.apps.length} apps: name one with --app (${file.apps.map((a) => a.id).join(', ')})`);
  }
  const app = file.apps.find((a) => a.id === id);
  if (app === undefined) throw new CliError(EXIT.notFound, `${path} has no app '${id}' (it has ${file.apps.map((a) => a.id).join(', ')})`);
  return app;
}

function selectEnvironment(app: RawAppsFile['apps'][number], env: Environment, path: string) {
  const cfg = app.environments[env];
  if (cfg === undefined) throw new CliError(EXIT.notFound, `app '${app.id}' in ${path} has no ${env} environment`);
  return cfg;
}

const common = (command: Command) =>
  command
    .addOption(appsFileOption())
    .option('--app <id>', 'the app (may be left out when the file has only one)', appIdArg)
    .option('--json', 'print JSON');

function listCommand(): Command {
  return common(new Command('list').description('list the keys and token secrets of the apps file; secret keys only by id (the start of their SHA-256), token secrets by kid'))
    .addOption(new Option('--env <env>', 'only this environment').choices(ENVIRONMENTS))
    .addOption(new Option('--kind <kind>', 'only this kind').choices(KEY_KINDS))
    .addHelpText('after', `
--json prints [{ app, env, kind, id, stored?, name?, permissions? }]; for a publishable key the id
is the key itself, for a secret key 12 hex digits of its SHA-256 (stored says "sha256" or "clear"),
for a token secret its kid, or ${LEGACY_TOKEN_SECRET} for the kid-less tokenSecret; its permissions
are ["sign","verify"] for the newest (it signs new tokens) and ["verify"] for the older ones.

Examples:
  $ signal keys list
  $ signal keys list --app chat --env live --kind secret --json
  $ signal keys list --env live --kind token-secret`)
    .action((options: KeysOptions) => {
      const file = readAppsFile(options.appsFile).parsed;
      const apps = options.app === undefined ? file.apps : [selectApp(file, options.app, options.appsFile)];
      const views = apps.flatMap((app) =>
        ENVIRONMENTS.filter((env) => options.env === undefined || env === options.env).flatMap((env) => {
          const cfg = app.environments[env];
          return cfg === undefined ? [] : keyViews(app, env, cfg).filter((v) => options.kind === undefined || v.kind === options.kind);
        }),
      );
      if (options.json) return printJson(views);
      printTable(
        ['APP', 'ENV', 'KIND', 'KEY', 'STORED', 'NAME', 'PERMISSIONS'],
        views.map((v) => [v.app, v.env, v.kind, v.id, v.stored ?? '', v.name ?? '', (v.permissions ?? []).join(',')]),
      );
    });
}

interface AddOptions extends KeysOptions {
  env: Environment;
  kind: KeyKind;
  name?: string;
  broadcast?: boolean;
  nodes?: boolean;
  clearSecret?: boolean;
  kid?: string;
  secretFile?: string;
}

/** Appends a token secret (generated, or read from --secret-file) and returns its kid. */
function addTokenSecret(cfg: RawEnvironment, options: { kid?: string; secretFile?: string }): string {
  const kid = options.kid ?? newKid(cfg);
  const secret = options.secretFile === undefined ? newTokenSecret() : readTextFile(options.secretFile, '--secret-file').trim();
  if (secret.length < 32 || secret.length > 1024) {
    throw usageError(`--secret-file ${options.secretFile}: a token secret is 32 to 1024 characters (it has ${secret.length})`);
  }
  appendTokenSecret(cfg, kid, secret);
  return kid;
}

function addCommand(): Command {
  return common(new Command('add').description('add a new key or token secret to an environment and print it (the only time a secret key is shown)'))
    .addOption(new Option('--env <env>', 'the environment').choices(ENVIRONMENTS).makeOptionMandatory())
    .addOption(new Option('--kind <kind>', 'the kind of key').choices(KEY_KINDS).makeOptionMandatory())
    .option('--name <label>', 'a secret key\'s label, shown in logs and by keys list (at most 64 characters)')
    .option('--broadcast', "give a secret key the 'broadcast' permission")
    .option('--nodes', "give a secret key the 'nodes' permission: read the cluster's gateway nodes (GET /v1/nodes, the web console)")
    .option('--clear-secret', 'store a secret key in clear instead of its SHA-256')
    .option('--kid <kid>', "a token secret's key id, 1-64 of A-Z a-z 0-9 . _ - (default: today's date and a random suffix)", kidArg)
    .option('--secret-file <path>', 'a token secret to add, read from this file (default: a new random one)')
    .addHelpText('after', `
To rotate a key: add the new one, move every client or backend to it, then remove the old one
(signal keys rotate does the first step). A token secret added here is the newest, so it signs
every token minted from now on; the older ones keep verifying theirs until removed. Its secret
is not printed (the services read it from the file); its kid is.
Running services reload the apps file when it changes (or on SIGHUP): connections on a removed key are closed (4005).
--json prints { app, env, kind, key, id } (for a token secret { app, env, kind, id }, id the kid).

Examples:
  $ signal keys add --env live --kind secret --name billing-backend
  $ signal keys add --env live --kind secret --name operator --nodes
  $ signal keys add --app chat --env test --kind publishable
  $ signal keys add --env live --kind token-secret --kid 2026-12 --secret-file ./new-secret.txt`)
    .action((options: AddOptions) => {
      if (options.kind !== 'secret' && (options.name !== undefined || options.broadcast || options.nodes || options.clearSecret)) {
        throw usageError('--name, --broadcast, --nodes and --clear-secret are for secret keys');
      }
      if (options.kind !== 'token-secret' && (options.kid !== undefined || options.secretFile !== undefined)) {
        throw usageError('--kid and --secret-file are for token secrets (--kind token-secret)');
      }
      const file = readAppsFile(options.appsFile).raw;
      const app = selectApp(file, options.app, options.appsFile);
      const cfg = selectEnvironment(app, options.env, options.appsFile);
      if (options.kind === 'token-secret') {
        const kid = addTokenSecret(cfg, options);
        writeAppsFile(options.appsFile, file, { replace: true });
        if (options.json) return printJson({ app: app.id, env: options.env, kind: options.kind, id: kid });
        printLines(kid);
        process.stderr.write(`added ${options.env} token secret '${kid}' to app '${app.id}' in ${options.appsFile}; it signs new tokens once the services reload the file\n`);
        return;
      }
      const keys = newKeys(options.env);
      let key: string;
      let id: string;
      if (options.kind === 'publishable') {
        key = id = keys.publishableKey;
        cfg.publishableKeys.push(key);
      } else {
        key = keys.secretKey;
        const permissions = [...(options.broadcast ? (['broadcast'] as const) : []), ...(options.nodes ? (['nodes'] as const) : [])];
        const entry = secretKeyEntry(key, { clear: options.clearSecret === true, permissions, name: options.name });
        cfg.secretKeys.push(entry);
        id = secretKeyHash(entry).slice(0, 12);
      }
      writeAppsFile(options.appsFile, file, { replace: true });
      if (options.json) return printJson({ app: app.id, env: options.env, kind: options.kind, key, id });
      printLines(key);
      process.stderr.write(`added a ${options.env} ${options.kind} key to app '${app.id}' in ${options.appsFile}; running services pick it up when they reload the file\n`);
    });
}

interface RemoveOptions extends KeysOptions {
  env: Environment;
}

function removeTokenSecretAction(ref: string, options: RemoveOptions): void {
  const file = readAppsFile(options.appsFile).raw;
  const app = selectApp(file, options.app, options.appsFile);
  const cfg = selectEnvironment(app, options.env, options.appsFile);
  removeTokenSecret(cfg, ref, `the ${options.env} environment of app '${app.id}'`);
  writeAppsFile(options.appsFile, file, { replace: true });
  if (options.json) return printJson({ app: app.id, env: options.env, kind: 'token-secret', id: ref });
  printLines(`removed ${options.env} token secret ${ref} from app '${app.id}'; once the services reload the file, tokens it signed are refused and connections on them are closed (4005)`);
}

function removeCommand(): Command {
  return common(new Command('remove').description('remove a key from an environment'))
    .argument('<key>', `a publishable key; or a secret key itself, its name, or its id from keys list (8+ hex digits of its SHA-256); with --kind token-secret a kid, or ${LEGACY_TOKEN_SECRET}`)
    .addOption(new Option('--env <env>', 'the environment').choices(ENVIRONMENTS).makeOptionMandatory())
    .addOption(new Option('--kind <kind>', 'token-secret to remove a token secret (publishable and secret keys are told apart by their form)').choices(['token-secret']))
    .addHelpText('after', `
The last publishable key, secret key or token secret of an environment cannot be removed (exit 4):
add its replacement first. --json prints { app, env, kind, id }.

Examples:
  $ signal keys remove pubk_test_4bW… --env test
  $ signal keys remove 9f86d081884c --env live --app chat
  $ signal keys remove 2026-11 --env live --kind token-secret`)
    .action((ref: string, options: RemoveOptions) => {
      if (options.kind === 'token-secret') return removeTokenSecretAction(ref, options);
      const file = readAppsFile(options.appsFile).raw;
      const app = selectApp(file, options.app, options.appsFile);
      const cfg = selectEnvironment(app, options.env, options.appsFile);
      const kind: KeyKind = ref.startsWith('pubk_') ? 'publishable' : 'secret';
      const list: unknown[] = kind === 'publishable' ? cfg.publishableKeys : cfg.secretKeys;
      const found = kind === 'publishable' ? cfg.publishableKeys.flatMap((k, i) => (k === ref ? [i] : [])) : matchingSecretKeys(cfg.secretKeys, ref);
      if (found.length === 0) throw new CliError(EXIT.notFound, `no ${options.env} ${kind} key '${ref}' in app '${app.id}'; see signal keys list`);
      if (found.length > 1) throw usageError(`'${ref}' matches ${found.length} secret keys; give more digits of the id`);
      if (list.length === 1) {
        throw new CliError(EXIT.conflict, `that is the last ${options.env} ${kind} key of app '${app.id}'; add another (signal keys add) before removing it`);
      }
      const id = kind === 'publishable' ? ref : secretKeyHash(cfg.secretKeys[found[0]!]!).slice(0, 12);
      list.splice(found[0]!, 1);
      writeAppsFile(options.appsFile, file, { replace: true });
      if (options.json) return printJson({ app: app.id, env: options.env, kind, id });
      printLines(`removed ${options.env} ${kind} key ${id} from app '${app.id}'; running services stop accepting it when they reload the file`);
    });
}

interface RotateOptions extends KeysOptions {
  env: Environment;
  kind?: 'token-secret';
  kid?: string;
  finish?: boolean;
}

/** Starts a token-secret rotation (a new newest secret) or, with --finish, ends it (only the newest stays). */
function rotateTokenSecret(options: RotateOptions): void {
  const file = readAppsFile(options.appsFile).raw;
  const app = selectApp(file, options.app, options.appsFile);
  const cfg = selectEnvironment(app, options.env, options.appsFile);
  const where = `the ${options.env} environment of app '${app.id}'`;
  if (options.finish) {
    const removed = tokenSecretIds(cfg).slice(0, -1);
    if (removed.length === 0) throw new CliError(EXIT.notFound, `${where} has only one token secret: no rotation to finish`);
    for (const id of removed) removeTokenSecret(cfg, id, where);
    writeAppsFile(options.appsFile, file, { replace: true });
    const kept = tokenSecretIds(cfg).at(-1)!;
    if (options.json) return printJson({ app: app.id, env: options.env, kind: 'token-secret', id: kept, removed });
    printLines(`removed ${options.env} token secrets ${removed.join(', ')} from app '${app.id}'; ${kept} is the only one left`);
    process.stderr.write('once the services reload the file, tokens signed with the removed secrets are refused and connections on them are closed (4005)\n');
    return;
  }
  const previous = tokenSecretIds(cfg);
  const kid = addTokenSecret(cfg, options);
  writeAppsFile(options.appsFile, file, { replace: true });
  if (options.json) return printJson({ app: app.id, env: options.env, kind: 'token-secret', id: kid, previous });
  printLines(kid);
  process.stderr.write(
    `added ${options.env} token secret '${kid}' to app '${app.id}': it signs new tokens once the services reload the file; ${previous.join(', ')} still verify.\n` +
      `when the tokens they signed have expired (at most MAX_TOKEN_TTL_SECONDS), finish with: signal keys rotate --finish --kind token-secret --env ${options.env}${options.app === undefined ? '' : ` --app ${app.id}`}\n`,
  );
}

/** Adds a replacement for a publishable or secret key: a secret key's name, permissions and storage form carry over. */
function rotateKey(ref: string, options: RotateOptions): void {
  const file = readAppsFile(options.appsFile).raw;
  const app = selectApp(file, options.app, options.appsFile);
  const cfg = selectEnvironment(app, options.env, options.appsFile);
  const keys = newKeys(options.env);
  if (ref.startsWith('pubk_')) {
    if (!cfg.publishableKeys.includes(ref)) throw new CliError(EXIT.notFound, `no ${options.env} publishable key '${ref}' in app '${app.id}'; see signal keys list`);
    cfg.publishableKeys.push(keys.publishableKey);
    writeAppsFile(options.appsFile, file, { replace: true });
    if (options.json) return printJson({ app: app.id, env: options.env, kind: 'publishable', key: keys.publishableKey, id: keys.publishableKey, replaces: ref });
    printLines(keys.publishableKey);
    process.stderr.write(`added a ${options.env} publishable key to app '${app.id}' beside ${ref}; move your clients to it, then: signal keys remove ${ref} --env ${options.env}\n`);
    return;
  }
  const found = matchingSecretKeys(cfg.secretKeys, ref);
  if (found.length === 0) throw new CliError(EXIT.notFound, `no ${options.env} secret key '${ref}' in app '${app.id}'; see signal keys list`);
  if (found.length > 1) throw usageError(`'${ref}' matches ${found.length} secret keys; give more digits of the id`);
  const old = cfg.secretKeys[found[0]!]!;
  const entry = secretKeyEntry(keys.secretKey, { clear: old.key !== undefined, permissions: old.permissions ?? [], name: old.name });
  cfg.secretKeys.push(entry);
  writeAppsFile(options.appsFile, file, { replace: true });
  const oldId = secretKeyHash(old).slice(0, 12);
  const id = secretKeyHash(entry).slice(0, 12);
  if (options.json) return printJson({ app: app.id, env: options.env, kind: 'secret', key: keys.secretKey, id, replaces: oldId });
  printLines(keys.secretKey);
  process.stderr.write(`added ${options.env} secret key ${id} to app '${app.id}' with the permissions of ${oldId}; move your backends to it, then: signal keys remove ${oldId} --env ${options.env}\n`);
}

function rotateCommand(): Command {
  return common(new Command('rotate').description('replace a key or the token secret without downtime: add the new one beside the old'))
    .argument('[key]', 'the publishable or secret key to replace (a key, a secret key\'s name or id); leave out with --kind token-secret')
    .addOption(new Option('--env <env>', 'the environment').choices(ENVIRONMENTS).makeOptionMandatory())
    .addOption(new Option('--kind <kind>', 'token-secret: rotate the secret that signs user tokens').choices(['token-secret']))
    .option('--kid <kid>', "the new token secret's key id (default: today's date and a random suffix)", kidArg)
    .option('--finish', 'end a token-secret rotation: remove every token secret but the newest')
    .addHelpText('after', `
A key: adds a new key of the same kind (a secret key keeps the old one's name, permissions and
storage) and prints it once; the old one works until you remove it with signal keys remove.
A token secret (--kind token-secret): adds a new random secret that signs every token minted from
now on, while the older ones keep verifying theirs. When those tokens have expired (at most
MAX_TOKEN_TTL_SECONDS, default 30 days), --finish removes the older secrets; connections still on
them are then closed (4005) and reconnect with fresh tokens (docs/authorization.md, rotation).
--json prints { app, env, kind, key, id, replaces } for a key; for a token secret { app, env, kind,
id, previous } (id the new kid), with --finish { app, env, kind, id, removed } (id the kid kept).

Examples:
  $ signal keys rotate --env live --kind token-secret
  $ signal keys rotate --env live --kind token-secret --finish
  $ signal keys rotate 9f86d081884c --env live
  $ signal keys rotate pubk_live_4bW… --env live --json`)
    .action((ref: string | undefined, options: RotateOptions) => {
      if (options.kind === 'token-secret') {
        if (ref !== undefined) throw usageError('--kind token-secret rotates the environment\'s token secret: leave out the key argument');
        return rotateTokenSecret(options);
      }
      if (ref === undefined) throw usageError('name the key to replace, or pass --kind token-secret');
      if (options.kid !== undefined || options.finish) throw usageError('--kid and --finish are for token secrets (--kind token-secret)');
      rotateKey(ref, options);
    });
}

export function keysCommand(): Command {
  return new Command('keys')
    .description('list, add, rotate and remove the publishable keys, secret keys and token secrets in the apps file')
    .addCommand(listCommand())
    .addCommand(addCommand())
    .addCommand(rotateCommand())
    .addCommand(removeCommand())
    .addHelpText('after', `
Examples:
  $ signal keys list
  $ signal keys add --env live --kind secret
  $ signal keys rotate --env live --kind token-secret
  $ signal keys remove <id> --env live`);
}
