// Mocha root hooks (loaded through .mocharc.json): clean up after the whole run.
import { removeTempDirs } from './models';

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await removeTempDirs();
  },
};
