import { describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseInputs } from '../../actions/import-image/src/inputs.js';
import { hasZstd } from '../../actions/import-image/src/oci.js';
import { actionInputs } from '../helpers/action-inputs.js';

const root = os.tmpdir();
const base = { root, image: '127.0.0.1:5000/team/app' };
const tunnel = {
  ...base,
  'ssh-tunnel': 'true',
  'ssh-user': 'core',
  'ssh-key': 'KEY-TEXT',
  'known-hosts': '[master]:2222 ssh-ed25519 AAAA',
};

describe('import-image inputs', () => {
  test('the action.yml defaults give an oci push over verified HTTPS, no tunnel', async () => {
    const inputs = await parseInputs(actionInputs('import-image', base));
    expect(inputs).toMatchObject({
      root: path.resolve(root),
      image: { registry: '127.0.0.1:5000', repository: 'team/app' },
      tags: [],
      push: true,
      insecure: false,
      mode: 'oci',
      'exposed-ports': [],
    });
    expect(inputs['ssh-tunnel']).toBeUndefined();
  });

  test.each(['/', '/srv/app', '/home/user.d/x-1'])('workdir %j is taken', async (workdir) => {
    const inputs = await parseInputs(actionInputs('import-image', { ...base, workdir }));
    expect(inputs.workdir).toBe(workdir);
  });

  test.each(['../../../etc', 'srv/app', '/srv/../../etc', '/a\nb'])(
    'workdir %j is refused naming the input',
    async (workdir) => {
      await expect(parseInputs(actionInputs('import-image', { ...base, workdir }))).rejects.toThrow(
        /^Input "workdir": ".*" is not an absolute path inside the image \(e\.g\. \/srv\/app; no "\.\." parts\)\.$/s,
      );
    },
  );

  test.each(['app', '1000', 'app:app', '1000:1000', 'app:100', '_svc.x-1'])(
    'user %j is taken',
    async (user) => {
      expect((await parseInputs(actionInputs('import-image', { ...base, user }))).user).toBe(user);
    },
  );

  test.each(['0; rm -rf /', 'a:b:c', ':', 'app:', '-app', 'a b', '$(id)'])(
    'user %j is refused naming the input',
    async (user) => {
      await expect(parseInputs(actionInputs('import-image', { ...base, user }))).rejects.toThrow(
        /^Input "user": ".*" is not a user: give a name or uid, optionally with :group or :gid/,
      );
    },
  );

  test('an output that is a file where a layout directory goes is refused up front', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-output-'));
    try {
      const file = path.join(dir, 'layout');
      await fs.writeFile(file, 'mine');
      await expect(
        parseInputs(actionInputs('import-image', { ...base, output: file })),
      ).rejects.toThrow(/^Input "output": ".*layout" is a file; give the path of a directory/);
      await expect(
        parseInputs(actionInputs('import-image', { ...base, output: dir + '/layout/x.tar' })),
      ).rejects.toThrow(
        /^Input "output": ".*layout" is a file, so ".*x\.tar" cannot be made in it\.$/,
      );
      await fs.mkdir(path.join(dir, 'image.tar'));
      await expect(
        parseInputs(actionInputs('import-image', { ...base, output: path.join(dir, 'image.tar') })),
      ).rejects.toThrow(/^Input "output": ".*image\.tar" is a directory; give the path of a file/);
      expect(await fs.readFile(file, 'utf8')).toBe('mine');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('compression defaults to gzip level 4; the level is checked against its range', async () => {
    const inputs = await parseInputs(actionInputs('import-image', base));
    expect(inputs).toMatchObject({ compression: 'gzip', 'compression-level': 4 });
    const fast = await parseInputs(
      actionInputs('import-image', { ...base, 'compression-level': '1' }),
    );
    expect(fast['compression-level']).toBe(1);
    await expect(
      parseInputs(actionInputs('import-image', { ...base, 'compression-level': '12' })),
    ).rejects.toThrow(
      /^Input "compression-level": 12 is out of range; use an integer from 1 to 9\.$/,
    );
    await expect(
      parseInputs(actionInputs('import-image', { ...base, compression: 'xz' })),
    ).rejects.toThrow(/^Input "compression": /);
  });

  // The unit tests run on Node 20, which has no zstd in node:zlib; on a newer Node this checks
  // the other rule (docker import is given gzip).
  test('zstd is refused in one line where this Node lacks it, and in mode docker', async () => {
    const zstd = { ...base, compression: 'zstd' };
    if (hasZstd()) {
      expect((await parseInputs(actionInputs('import-image', zstd)))['compression-level']).toBe(3);
      await expect(
        parseInputs(actionInputs('import-image', { ...zstd, mode: 'docker' })),
      ).rejects.toThrow(/^Input "compression": zstd is for mode oci/);
    } else {
      await expect(parseInputs(actionInputs('import-image', zstd))).rejects.toThrow(
        /^Input "compression": zstd needs Node 22\.15 or later \(this is v\d+[.\d]*\); use gzip/,
      );
    }
  });

  test('ssh-host takes host:port', async () => {
    const inputs = await parseInputs(
      actionInputs('import-image', { ...tunnel, 'ssh-host': 'master:2222' }),
    );
    expect(inputs['ssh-tunnel']).toMatchObject({ host: 'master', port: 2222, user: 'core' });
  });

  test('ssh-port is still read, with a deprecation warning', async () => {
    // core.warning writes a ::warning:: command to stdout.
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const inputs = await parseInputs(
        actionInputs('import-image', { ...tunnel, 'ssh-host': 'master', 'ssh-port': '2222' }),
      );
      expect(inputs['ssh-tunnel']).toMatchObject({ host: 'master', port: 2222 });
      expect(write.mock.calls.map(([text]) => String(text)).join('')).toMatch(
        /::warning::Input "ssh-port" is deprecated/,
      );
    } finally {
      write.mockRestore();
    }
  });

  test('an image that is not a reference names the input once', async () => {
    await expect(
      parseInputs(actionInputs('import-image', { ...base, image: '127.0.0.1:5000/Team/App' })),
    ).rejects.toThrow(/^Input "image": reference "127\.0\.0\.1:5000\/Team\/App": repository/);
  });

  test('output is made absolute', async () => {
    const cwd = await fs.realpath(process.cwd());
    const inputs = await parseInputs(actionInputs('import-image', { ...base, output: 'layout' }));
    expect(inputs.output).toBe(path.join(cwd, 'layout'));
  });
});
