import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['proxy/**/*.test.ts', 'plugins/**/*.test.ts', 'src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    // One PostgreSQL for the whole run; test files reach it with inject('testPg') via test/harness/pg.ts.
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Forks, not threads: tests open sockets and spawn processes, which isolate better per process.
    pool: 'forks',
    fileParallelism: true,
    // The machines here (and CI) have 2 cores, and PostgreSQL needs its share of them too.
    maxWorkers: 2,
  },
});
