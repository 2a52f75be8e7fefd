import * as core from '@actions/core';

/** True on a GitHub runner, where the artifact service can be reached. */
export function artifactServiceAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.ACTIONS_RUNTIME_TOKEN && env.ACTIONS_RESULTS_URL);
}

/**
 * Uploads the packages as an artifact on a runner. @actions/artifact is imported only here (it
 * makes the bundle's largest chunk); elsewhere a notice says the upload was skipped.
 */
export async function uploadPackages(
  name: string,
  files: string[],
  rootDir: string,
): Promise<void> {
  if (!artifactServiceAvailable()) {
    core.notice(
      `upload-artifact: not on a GitHub runner (no artifact service), so "${name}" was not uploaded; the packages are in ${rootDir}.`,
    );
    return;
  }
  await core.group(`Uploading the artifact "${name}"`, async () => {
    const { DefaultArtifactClient } = await import('@actions/artifact');
    const client = new DefaultArtifactClient();
    const response = await client.uploadArtifact(name, files, rootDir);
    core.info(`artifact "${name}": id ${response.id ?? '?'}, ${response.size ?? '?'} bytes`);
  });
}
