import { Command } from 'commander';
import { expectAnswer, occupancyAnswerSchema, participantsAnswerSchema } from '../http/answers.js';
import { callEmitApi } from '../http/emit-api.js';
import { emitApiTarget, withEmitApiOptions, type EmitApiOptions } from '../http/emit-api-options.js';
import { printJson, printLines, printTable } from '../output/print.js';

interface ReadOptions extends EmitApiOptions {
  json?: boolean;
}

async function participants(channel: string, options: ReadOptions) {
  const target = emitApiTarget(options);
  const path = `/v1/channels/${encodeURIComponent(channel)}/participants`;
  return expectAnswer(participantsAnswerSchema, await callEmitApi(target, 'GET', path), `GET ${path}`, target.url).participants;
}

export function presenceCommand(): Command {
  return withEmitApiOptions(
    new Command('presence')
      .description("who is in a presence channel, with their states, earliest joiner first (GET /v1/channels/:channel/participants)")
      .argument('<channel>', 'the channel')
      .option('--json', 'print { channel, participants: [{ address, identity, device, joinedAt, state? }] }'),
  )
    .addHelpText('after', `
Examples:
  $ signal presence room-1
  $ signal presence room-1 --json | jq -r '.participants[].identity'`)
    .action(async (channel: string, options: ReadOptions) => {
      const list = await participants(channel, options);
      if (options.json) return printJson({ channel, participants: list });
      if (list.length === 0) return printLines(`nobody in ${channel}`);
      printTable(
        ['ADDRESS', 'JOINED', 'STATE'],
        list.map((p) => [p.address, new Date(p.joinedAt).toISOString(), p.state === undefined ? '' : JSON.stringify(p.state)]),
      );
    });
}

export function occupancyCommand(): Command {
  return withEmitApiOptions(
    new Command('occupancy')
      .description('how many connections are in a channel, cluster-wide (GET /v1/channels/:channel/occupancy)')
      .argument('<channel>', 'the channel')
      .option('--json', 'print { channel, connections, participants } (participants: those in it with presence)'),
  )
    .addHelpText('after', `
Examples:
  $ signal occupancy room-1
  $ [ "$(signal occupancy room-1)" -gt 0 ] && echo busy
  $ signal occupancy room-1 --json | jq .participants`)
    .action(async (channel: string, options: ReadOptions) => {
      const target = emitApiTarget(options);
      const path = `/v1/channels/${encodeURIComponent(channel)}/occupancy`;
      const answer = expectAnswer(occupancyAnswerSchema, await callEmitApi(target, 'GET', path), `GET ${path}`, target.url);
      if (options.json) printJson({ channel, connections: answer.connections, participants: answer.participants });
      else printLines(String(answer.connections));
    });
}
