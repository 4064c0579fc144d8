import { Command, Option } from 'commander';
import { ENVIRONMENTS, generateApp, type AppsFile, type Environment } from '@signal/core';
import { appIdArg } from '../apps/app-id-arg.js';
import { appsFileOption } from '../apps/apps-file-option.js';
import { secretKeyEntry } from '../apps/new-keys.js';
import { writeAppsFile } from '../apps/write-apps-file.js';
import { printJson, printLines } from '../output/print.js';

interface InitOptions {
  appsFile: string;
  app: string;
  env?: Environment;
  clearSecret?: boolean;
  broadcast?: boolean;
  force?: boolean;
  json?: boolean;
}

export function initCommand(): Command {
  return new Command('init')
    .description('create an apps file with one new app and its keys; prints the secret keys once')
    .addOption(appsFileOption())
    .option('--app <id>', 'the app id (1-63 of a-z, 0-9, _ or -)', appIdArg, 'my-app')
    .addOption(new Option('--env <env>', 'create only this environment (default: test and live)').choices(ENVIRONMENTS))
    .option('--clear-secret', 'store secret keys in clear instead of their SHA-256 (for local development)')
    .option('--broadcast', "give the secret keys the 'broadcast' permission (emit to everyone)")
    .option('--force', 'replace an existing apps file (every key in it stops working)')
    .option('--json', 'print { appsFile, app, environments: { <env>: { publishableKey, secretKey } } }')
    .addHelpText(
      'after',
      `
The file is written with mode 0600 and holds the token secrets. Secret keys are stored as their
SHA-256 unless --clear-secret, so this is the only time they are shown: keep them now.

Examples:
  $ signal init --apps-file apps.json --app chat
  $ signal init --env test --clear-secret --broadcast --json > keys.json
  $ export SIGNAL_SECRET_KEY=seck_test_…   # then: APPS_FILE=apps.json pnpm start`,
    )
    .action((options: InitOptions) => {
      const generated = generateApp(options.app, { broadcast: options.broadcast === true });
      const envs = options.env === undefined ? ENVIRONMENTS : [options.env];
      const shown: Record<string, { publishableKey: string; secretKey: string }> = {};
      const environments: AppsFile['apps'][number]['environments'] = {};
      for (const env of envs) {
        const cfg = generated.environments[env]!;
        const secret = cfg.secretKeys[0]!;
        shown[env] = { publishableKey: cfg.publishableKeys[0]!, secretKey: secret.key! };
        environments[env] = {
          ...cfg,
          secretKeys: [secretKeyEntry(secret.key!, { clear: options.clearSecret === true, permissions: options.broadcast ? ['broadcast'] : [] })],
        };
      }
      writeAppsFile(options.appsFile, { apps: [{ id: options.app, environments }] }, { replace: options.force === true });
      if (options.json) return printJson({ appsFile: options.appsFile, app: options.app, environments: shown });
      const stored = options.clearSecret ? 'in clear' : 'as SHA-256 only: this is the only time the secret keys are shown';
      printLines(`created ${options.appsFile} (mode 0600) with app '${options.app}'; secret keys stored ${stored}`);
      for (const env of envs) {
        printLines(`${env}  publishable key  ${shown[env]!.publishableKey}`, `${env}  secret key       ${shown[env]!.secretKey}`);
      }
      const first = envs[0]!;
      printLines('', `next: APPS_FILE=${options.appsFile} pnpm start`, `      export SIGNAL_SECRET_KEY=${shown[first]!.secretKey}`);
    });
}
