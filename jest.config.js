/** @type {import('jest').Config} */
// cookie 2 (light-my-request's, behind Fastify's inject) ships ES modules only, which Jest's CommonJS runtime cannot
// require on Node 20: it is compiled like the sources.
const transform = { '^.+\\.ts$': ['@swc/jest'], '/node_modules/cookie/.+\\.js$': ['@swc/jest'] };
const transformIgnorePatterns = ['/node_modules/(?!cookie/)'];

module.exports = {
  projects: [
    {
      displayName: 'unit',
      transform,
      transformIgnorePatterns,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/events/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      transform,
      transformIgnorePatterns,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      slowTestThreshold: 60,
      // Local servers by default (checked, not started); TEST_SERVERS=testcontainers starts containers.
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      setupFiles: ['<rootDir>/test/support/quiet-temporal-logs.ts'],
    },
  ],
  collectCoverageFrom: ['events/**/*.ts', '!events/**/*.test.ts'],
  coverageReporters: ['text-summary', 'json-summary', 'lcov'],
};
