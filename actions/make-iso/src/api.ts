// What scripts and the CLI may use from make-iso: the cloud-config audit and its result.
export { auditCloudConfig, formatAudit, type AuditResult } from './audit.js';
