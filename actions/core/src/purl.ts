/**
 * Package URLs of a root's pacman packages, of purl's `alpm` type: make-chroot's SBOMs and
 * import-image's provenance name the packages the same way (docs/dev/sbom.md).
 */

/**
 * The distribution a root's packages come from, as purl's alpm type names it (the namespace):
 * Arch Linux for x86_64, Arch Linux 32 for i686.
 */
function purlNamespace(arch: string): string {
  return arch === 'i686' ? 'arch32' : 'arch';
}

/** purl's percent-encoding of one component; `:` (the epoch separator) stays as it is. */
function purlEncode(text: string): string {
  return encodeURIComponent(text).replace(/%3A/g, ':');
}

/** `pkg:alpm/<distribution>/<name>@<version>?arch=<arch>` (pure). */
export function packageUrl(
  rootArch: string,
  entry: { name: string; version: string; arch: string },
): string {
  const name = purlEncode(entry.name.toLowerCase());
  return `pkg:alpm/${purlNamespace(rootArch)}/${name}@${purlEncode(entry.version)}?arch=${purlEncode(entry.arch)}`;
}
