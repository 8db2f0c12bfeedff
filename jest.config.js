/** @type {import('jest').Config} */
// cookie 2 (light-my-request's, behind Fastify's inject) ships ES modules only, which Jest's CommonJS runtime cannot
// require on Node 20: it is compiled like the sources.
const transform = { '^.+\\.ts$': ['@swc/jest'], '/node_modules/cookie/.+\\.js$': ['@swc/jest'] };
const transformIgnorePatterns = ['/node_modules/(?!cookie/)'];

/** A project of tests against real servers: local ones by default (checked, not started), or containers. */
function integrationProject(displayName, testMatch) {
  return {
    displayName,
    transform,
    transformIgnorePatterns,
    testEnvironment: 'node',
    testMatch: [testMatch],
    slowTestThreshold: 60,
    // Local servers by default (checked, not started); TEST_SERVERS=testcontainers starts containers.
    globalSetup: '<rootDir>/test/support/global-setup.ts',
    globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    setupFiles: ['<rootDir>/test/support/quiet-temporal-logs.ts'],
  };
}

module.exports = {
  projects: [
    {
      displayName: 'unit',
      transform,
      transformIgnorePatterns,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/events/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    integrationProject('integration', '<rootDir>/test/integration/**/*.test.ts'),
    // The same servers, suites of minutes each (real-time pacing, full-fleet end-to-end runs): `make test-long`.
    integrationProject('long', '<rootDir>/test/long/**/*.test.ts'),
  ],
  collectCoverageFrom: ['events/**/*.ts', '!events/**/*.test.ts'],
  coverageReporters: ['text-summary', 'json-summary', 'lcov'],
};
