import { Option } from 'commander';

/** `--apps-file`: else APPS_FILE, the variable the services read it from, else ./apps.json. */
export function appsFileOption(): Option {
  return new Option('--apps-file <path>', 'the apps file').env('APPS_FILE').default('apps.json');
}
