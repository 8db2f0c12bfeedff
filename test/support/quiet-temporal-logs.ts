// Jest setup file of the integration project: the Temporal worker logs at WARN and above, so test output shows
// failures rather than every worker state change and webpack bundle report. TEMPORAL_LOG_LEVEL overrides.
import type { LogLevel } from '@temporalio/worker';
import { DefaultLogger, Runtime } from '@temporalio/worker';

const level = (process.env.TEMPORAL_LOG_LEVEL ?? 'WARN') as LogLevel;
Runtime.install({ logger: new DefaultLogger(level) });
