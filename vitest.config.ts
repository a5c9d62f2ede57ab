import { defineConfig } from 'vitest/config';

// Tests drive real processes through ptrace and FFI: run each file in its own forked
// process so that a crash inside native code fails one file, not the whole run.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
