// Jest global teardown of the integration project: stops the containers that global setup started, if any.
// Local servers are left running: whoever started them (make test, make servers-up) stops them.
import { containersSlot } from './global-setup';

/** Runs once after the integration tests. */
export default async function globalTeardown(): Promise<void> {
  const containers = containersSlot.__bsiContainers;
  containersSlot.__bsiContainers = undefined;
  await containers?.stop();
}
