import { Option } from 'commander';

/** `--apps-file`, defaulting as the services do: APPS_FILE, else ./apps.json. */
export function appsFileOption(): Option {
  return new Option('--apps-file <path>', 'the apps file').env('APPS_FILE').default('apps.json');
}
