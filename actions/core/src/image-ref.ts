import { UserError } from './errors.js';
import { parseHostPort } from './host-port.js';

/**
 * Image references by the grammar of the OCI distribution reference
 * (`[domain[:port]/]path[:tag][@digest]`), shared by import-image (where to push) and
 * deploy-fleet (what to run).
 */
export interface ImageReference {
  /** Registry host with port, e.g. `127.0.0.1:5000`; `docker.io` when none is written. */
  registry: string;
  /** Repository path within the registry, e.g. `team/app`. */
  repository: string;
  tag?: string;
  digest?: string;
}

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
export const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** The registry part: host[:port] by the one host:port parser, which would forgive spaces. */
function isRegistryHostPort(text: string): boolean {
  if (/\s/.test(text)) return false;
  try {
    parseHostPort(text, 443);
    return true;
  } catch {
    return false;
  }
}

/** Parses a reference; the error says which part is wrong. `what` names it (an input). */
export function parseImageReference(text: string, what = 'image'): ImageReference {
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest) || (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest))) {
      throw new UserError(`${what} "${text}": "${digest}" is not a digest like sha256:<64 hex>.`);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new UserError(
        `${what} "${text}": tag "${tag}" is not valid (letters, digits, _ . -, at most 128, not starting with . or -).`,
      );
    }
  }
  let registry = 'docker.io';
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first.startsWith('[')
    ) {
      registry = first;
      repository = rest.slice(firstSlash + 1);
      if (!isRegistryHostPort(registry)) {
        throw new UserError(`${what} "${text}": "${registry}" is not a registry host[:port].`);
      }
    }
  }
  if (!REPOSITORY.test(repository) || repository.length > 255) {
    throw new UserError(
      `${what} "${text}": repository "${repository}" is not valid (lower-case letters, digits, and . _ - between them, parts separated by /).`,
    );
  }
  return { registry, repository, tag, digest };
}

export function formatImageReference(reference: ImageReference): string {
  const base = `${reference.registry}/${reference.repository}`;
  return `${base}${reference.tag ? `:${reference.tag}` : ''}${reference.digest ? `@${reference.digest}` : ''}`;
}

/** The last path component of the repository: the app's name (`team/app` → `app`). */
export function imageBaseName(reference: ImageReference): string {
  return reference.repository.split('/').pop() as string;
}

/**
 * True for 127.0.0.0/8, ::1 and localhost (with or without a port): a registry only
 * the machine itself reaches (import-image allows it plain HTTP; deploy-fleet warns of it).
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[')
    ? registry.slice(1, registry.indexOf(']'))
    : (registry.split(':')[0] ?? '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
