/**
 * The web console's files, served by `rollout serve` under `/console/` (`@fastify/static`): the page and its modules
 * from `web/`, and the few library builds it loads (Preact with htm, Pico CSS, uPlot) from `node_modules`, each under
 * a fixed name in `/console/vendor/`. Nothing is fetched from anywhere else, so helmet's Content-Security-Policy
 * (scripts from this origin only, no inline script) holds for the page. The page itself is public, like any static
 * file: everything it shows comes from the `/api/` routes with the bearer token the person gives it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { PACKAGE_ROOT } from '../layout/package-layout';

/** Where the console's own files are (not compiled: plain ES modules, HTML and CSS). */
export const WEB_DIR = path.join(PACKAGE_ROOT, 'web');

/** What the page needs to know of the deployment (nothing secret: it is served without a token). */
export interface ConsoleSettings {
  /** The Temporal UI the page links each rollout's workflow to (`TEMPORAL_UI_URL`). */
  temporalUiUrl: string;
  namespace: string;
}

/** The library files the page loads: the name it asks for under `/console/vendor/`, the package and the file in it. */
const VENDOR: Record<string, { pkg: string; file: string; type: string }> = {
  'preact-htm.js': { pkg: 'htm', file: 'preact/standalone.module.js', type: 'text/javascript; charset=utf-8' },
  'pico.min.css': { pkg: '@picocss/pico', file: 'css/pico.min.css', type: 'text/css; charset=utf-8' },
  'uplot.js': { pkg: 'uplot', file: 'dist/uPlot.esm.js', type: 'text/javascript; charset=utf-8' },
  'uplot.min.css': { pkg: 'uplot', file: 'dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

/**
 * The directory of an installed package, found the way Node finds it (the `node_modules` folders above this module),
 * without asking the package's `exports`, which need not list the files a browser wants.
 */
function packageDir(pkg: string): string {
  for (const dir of require.resolve.paths(pkg) ?? []) {
    const candidate = path.join(dir, pkg);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
  }
  throw new Error(`the web console needs the package ${pkg}, which is not installed (npm ci)`);
}

/**
 * Registers the console on `app`: `/console/` (the page, `web/`), `/console/vendor/<name>` (the libraries),
 * `/console/settings.json` (the Temporal UI address and namespace), and `/` redirecting to `/console/`. Throws at
 * start when a library file is missing, rather than serving a page that cannot load.
 */
export async function registerConsole(app: FastifyInstance, settings: ConsoleSettings): Promise<void> {
  const vendor = Object.entries(VENDOR).map(([name, { pkg, file, type }]) => {
    const dir = packageDir(pkg);
    if (!existsSync(path.join(dir, file))) throw new Error(`the web console needs ${pkg}/${file}, which is missing`);
    return { name, dir, file, type };
  });
  await app.register(fastifyStatic, { root: WEB_DIR, prefix: '/console/', index: 'index.html', cacheControl: false });
  for (const { name, dir, file, type } of vendor) {
    app.get(`/console/vendor/${name}`, (_req, reply) => reply.type(type).sendFile(file, dir));
  }
  app.get('/console/settings.json', () => Promise.resolve(settings));
  app.get('/console', (_req, reply) => reply.redirect('/console/'));
  app.get('/', (_req, reply) => reply.redirect('/console/'));
}
