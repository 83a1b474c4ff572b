import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the long campaigns (kill -9, crash points, soak-sized model runs). */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.test.ts', 'test/property/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
  },
});
