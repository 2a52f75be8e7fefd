import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPipeline, type PipelineResult } from '../../scripts/demo/pipeline.js';

// `scripts/demo.sh --app PATH` (scripts/demo/pipeline.ts) on an app other than the bundled one:
// a small C program with its own Makefile and a PKGBUILD without pkgver(), kept in git and made
// here. The same real registry, podman, sshd and fleet stand-in as pipeline.test.ts.
jest.setTimeout(600_000);

const PKGBUILD = `pkgname=tally
pkgver=0
pkgrel=1
pkgdesc='counts its arguments'
arch=('x86_64' 'i686')
license=('MIT')
depends=('glibc')
makedepends=('make' 'gcc')

build() {
	cd "$startdir"
	make
}

package() {
	cd "$startdir"
	make DEST="$pkgdir" install
}
`;
const MAKEFILE = `CC ?= cc
tally: tally.c
\t$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ tally.c
install: tally
\tinstall -Dm755 tally $(DEST)/usr/bin/tally
`;
const SOURCE = `#include <stdio.h>
int main(int argc, char **argv) { (void)argv; printf("tally: %d\\n", argc - 1); return 0; }
`;

let work: string;
let result: PipelineResult;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'pipeline-own-app-'));
  await fs.chmod(work, 0o755);
  const app = path.join(work, 'tally-src');
  await fs.mkdir(app);
  await fs.writeFile(path.join(app, 'PKGBUILD'), PKGBUILD);
  await fs.writeFile(path.join(app, 'Makefile'), MAKEFILE);
  await fs.writeFile(path.join(app, 'tally.c'), SOURCE);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
      cwd: app,
    });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'tally');
  git('tag', 'v2.1');
  try {
    result = await runPipeline({
      workDir: path.join(work, 'demo'),
      arch: 'x86_64',
      app: { dir: app, repos: [], runCmd: '["/usr/bin/tally", "a", "b", "c"]' },
      say: () => undefined,
      onCleanup: (cleanup) => cleanups.push(cleanup),
    });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const out = (action: string): Record<string, string> => result.outputs[action] ?? {};

describe('the whole pipeline on your own app (git, x86_64)', () => {
  test('its package, versioned from git by build-package', () => {
    expect(out('build-package').version).toMatch(/^2\.1\.r1\.[0-9a-f]{7,}-1$/);
    expect(out('build-package').packages).toMatch(/\/tally-2\.1\.r1\.[0-9a-f]+-1-x86_64\.pkg/);
  });

  test('its root, image and container', () => {
    expect(out('make-chroot').packages).toBe(`glibc 2.36-1\ntally ${out('build-package').version}`);
    expect(out('import-image')['image-ref']).toMatch(/^127\.0\.0\.1:\d+\/arch-core\/tally@sha256:/);
    const ran = result.stages.find((stage) => stage.name === 'Run the image');
    expect(ran?.outputs.greeting).toBe('tally: 3');
  });

  test('deployed as tally.service on all three machines', () => {
    expect(out('deploy-fleet')['unit-name']).toBe('tally.service');
    expect(out('deploy-fleet').machines).toBe('3');
  });

  test('deploy-fleet warned that the machines could not pull from the loopback registry', async () => {
    const log = await fs.readFile(path.join(result.logsDir, 'deploy-fleet.log'), 'utf8');
    expect(log).toMatch(/^::warning .*::image names the loopback registry 127\.0\.0\.1:\d+/m);
  });
});
