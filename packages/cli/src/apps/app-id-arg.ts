import { InvalidArgumentError } from 'commander';
import { generateApp, parseAppsFile } from '@signal/core';

/** Checks an --app value with the apps file schema itself (a usage error, before any file is touched). */
export function appIdArg(value: string): string {
  try {
    parseAppsFile({ apps: [generateApp(value)] }, 'apps file');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^apps file: 'apps\.0\.id': /, ''));
  }
  return value;
}
