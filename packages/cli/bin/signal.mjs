#!/usr/bin/env node
// The `signal` command. It is a file in git, not the build output itself, so `pnpm install` on a
// fresh clone links it even before `pnpm build` has written dist/.
await import('../dist/main.js');
