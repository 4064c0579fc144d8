import { Command, Option } from 'commander';
import { ENVIRONMENTS, type Environment } from '@signal/core';
import { appIdArg } from '../apps/app-id-arg.js';
import { appsFileOption } from '../apps/apps-file-option.js';
import { KEY_KINDS, keyViews, matchingSecretKeys, secretKeyHash, type KeyKind } from '../apps/key-views.js';
import { newKeys, secretKeyEntry } from '../apps/new-keys.js';
import { readAppsFile, type RawAppsFile } from '../apps/read-apps-file.js';
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
  return common(new Command('list').description('list the keys of the apps file; secret keys only by id (the start of their SHA-256)'))
    .addOption(new Option('--env <env>', 'only this environment').choices(ENVIRONMENTS))
    .addOption(new Option('--kind <kind>', 'only this kind').choices(KEY_KINDS))
    .addHelpText('after', `
--json prints [{ app, env, kind, id, stored?, name?, permissions? }]; for a publishable key the id
is the key itself, for a secret key 12 hex digits of its SHA-256 (stored says "sha256" or "clear").

Examples:
  $ signal keys list
  $ signal keys list --app chat --env live --kind secret --json`)
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
  clearSecret?: boolean;
}

function addCommand(): Command {
  return common(new Command('add').description('add a new key to an environment and print it (the only time a secret key is shown)'))
    .addOption(new Option('--env <env>', 'the environment').choices(ENVIRONMENTS).makeOptionMandatory())
    .addOption(new Option('--kind <kind>', 'the kind of key').choices(KEY_KINDS).makeOptionMandatory())
    .option('--name <label>', 'a secret key\'s label, shown in logs and by keys list (at most 64 characters)')
    .option('--broadcast', "give a secret key the 'broadcast' permission")
    .option('--clear-secret', 'store a secret key in clear instead of its SHA-256')
    .addHelpText('after', `
To rotate a key: add the new one, move every client or backend to it, then remove the old one.
Running services reload the apps file when it changes (or on SIGHUP): connections on a removed key are closed (4005).
--json prints { app, env, kind, key, id }.

Examples:
  $ signal keys add --env live --kind secret --name billing-backend
  $ signal keys add --app chat --env test --kind publishable`)
    .action((options: AddOptions) => {
      if (options.kind === 'publishable' && (options.name !== undefined || options.broadcast || options.clearSecret)) {
        throw usageError('--name, --broadcast and --clear-secret are for secret keys');
      }
      const file = readAppsFile(options.appsFile).raw;
      const app = selectApp(file, options.app, options.appsFile);
      const cfg = selectEnvironment(app, options.env, options.appsFile);
      const keys = newKeys(options.env);
      let key: string;
      let id: string;
      if (options.kind === 'publishable') {
        key = id = keys.publishableKey;
        cfg.publishableKeys.push(key);
      } else {
        key = keys.secretKey;
        const entry = secretKeyEntry(key, { clear: options.clearSecret === true, broadcast: options.broadcast === true, name: options.name });
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

function removeCommand(): Command {
  return common(new Command('remove').description('remove a key from an environment'))
    .argument('<key>', 'a publishable key; or a secret key itself, its name, or its id from keys list (8+ hex digits of its SHA-256)')
    .addOption(new Option('--env <env>', 'the environment').choices(ENVIRONMENTS).makeOptionMandatory())
    .addHelpText('after', `
The last publishable or secret key of an environment cannot be removed (exit 4): add its
replacement first. --json prints { app, env, kind, id }.

Examples:
  $ signal keys remove pubk_test_4bW… --env test
  $ signal keys remove 9f86d081884c --env live --app chat`)
    .action((ref: string, options: RemoveOptions) => {
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

export function keysCommand(): Command {
  return new Command('keys')
    .description('list, add and remove the publishable and secret keys in the apps file')
    .addCommand(listCommand())
    .addCommand(addCommand())
    .addCommand(removeCommand())
    .addHelpText('after', `
Examples:
  $ signal keys list
  $ signal keys add --env live --kind secret
  $ signal keys remove <id> --env live`);
}
