/** @type {import('jest').Config} */
const transform = { '^.+\\.ts$': ['@swc/jest'] };

module.exports = {
  projects: [
    {
      displayName: 'unit',
      transform,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/events/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      transform,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      slowTestThreshold: 60,
    },
  ],
  collectCoverageFrom: ['events/**/*.ts', '!events/**/*.test.ts'],
  coverageReporters: ['text-summary', 'json-summary', 'lcov'],
};
