import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MANIFEST_PATH_IN_ROOT, type Manifest } from '../../actions/core/src/manifest.js';

/**
 * A small root for import-image tests, made directly: a static binary (`gcc -static`, or
 * `gcc -m32 -static` for i686) at usr/bin/<name> that prints `text`, a few other files (a
 * symlink, a hard link, a setuid file), and the manifest make-chroot would write.
 */
export interface AppRootOptions {
  arch?: 'x86_64' | 'i686';
  name?: string;
  version?: string;
  text?: string;
  commitTime?: string;
  /** The app's full VCS hash, as build-package records it. */
  commit?: string;
  packages?: Array<{ name: string; version: string }>;
}

export async function makeAppRoot(root: string, options: AppRootOptions = {}): Promise<Manifest> {
  const arch = options.arch ?? 'x86_64';
  const name = options.name ?? 'hello';
  const version = options.version ?? '1.2.r14.0a1b2c3d4e5f-1';
  const text = options.text ?? `Hello from ${name} ${version} (${arch})`;
  const bin = path.join(root, 'usr/bin');
  await fs.mkdir(bin, { recursive: true });
  const source = path.join(root, '..', `.${path.basename(root)}-${name}.c`);
  await fs.writeFile(
    source,
    `#include <stdio.h>\nint main(void) { puts(${JSON.stringify(text)}); return 0; }\n`,
  );
  execFileSync('gcc', [
    ...(arch === 'i686' ? ['-m32'] : []),
    '-static',
    '-Os',
    '-s',
    '-o',
    path.join(bin, name),
    source,
  ]);
  await fs.rm(source);
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.writeFile(path.join(root, 'etc/hello.conf'), 'greeting = yes\n');
  await fs.link(path.join(root, 'etc/hello.conf'), path.join(root, 'etc/hello.conf.hardlink'));
  await fs.symlink(`/usr/bin/${name}`, path.join(root, 'usr/bin/app'));
  await fs.writeFile(path.join(root, 'usr/bin/setuid-tool'), 'not really a tool\n');
  await fs.chmod(path.join(root, 'usr/bin/setuid-tool'), 0o4755);
  await fs.mkdir(path.join(root, 'tmp'), { recursive: true });
  await fs.chmod(path.join(root, 'tmp'), 0o1777);
  const packages = (
    options.packages ?? [
      { name, version },
      { name: 'filesystem', version: '2024.04.07-1' },
      { name: 'glibc', version: '2.39-1' },
    ]
  )
    .map((p) => ({ ...p, arch, installedSize: 1000 }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const manifest: Manifest = {
    schemaVersion: 1,
    arch,
    app: {
      name,
      version,
      vcs: 'hg',
      revision: '14',
      hash: '0a1b2c3d4e5f',
      ...(options.commit ? { commit: options.commit } : {}),
      commitTime: options.commitTime ?? '2026-11-25T10:00:00Z',
    },
    packages,
    created: '2026-11-25T10:05:00Z',
  };
  const manifestPath = path.join(root, MANIFEST_PATH_IN_ROOT);
  await fs.mkdir(path.dirname(manifestPath), { recursive: true });
  await fs.writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
