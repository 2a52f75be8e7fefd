/**
 * The `upload-artifact` input is deprecated (removed in the next minor version): the artifact
 * client made three quarters of the bundle and needs a newer Node than the runner's, and the
 * workflow's own actions/upload-artifact step does the same. This is the warning a run that
 * still gives it prints; `stepId` is the step's `id:` when it has one (GITHUB_ACTION).
 */
export function uploadArtifactDeprecation(name: string, stepId: string | undefined): string {
  const step = stepId && !stepId.startsWith('__') ? stepId : '<id of this step>';
  return [
    `upload-artifact is deprecated and ignored: "${name}" was not uploaded. Upload the packages with a step after this one:`,
    `  - uses: actions/upload-artifact@v4`,
    `    with:`,
    `      name: ${name}`,
    `      path: |`,
    `        \${{ steps.${step}.outputs.packages }}`,
    `        \${{ steps.${step}.outputs.srcinfo }}`,
  ].join('\n');
}
