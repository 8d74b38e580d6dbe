/**
 * Read-only views of bootstrap: the audit log in pages, and everestctl's text tables of the accounts and
 * of the managed database namespaces.
 */
import type { AuditPage } from '../store/audit.ts';
import { accountsTable, textTable } from './accounts.ts';
import type { BootstrapPorts } from './ports.ts';

export function auditPage(
  ports: Pick<BootstrapPorts, 'store'>,
  query: {
    readonly limit: number;
    readonly before?: string | undefined;
    readonly target?: string | undefined;
    readonly operation?: string | undefined;
  },
): Promise<AuditPage> {
  return ports.store.listAudit({
    limit: query.limit,
    ...(query.before === undefined ? {} : { before: query.before }),
    ...(query.target === undefined ? {} : { target: query.target }),
    ...(query.operation === undefined ? {} : { operation: query.operation }),
  });
}

/** `everestctl accounts list` as text. */
export async function accountsText(ports: Pick<BootstrapPorts, 'accounts'>): Promise<string> {
  return accountsTable((await ports.accounts.read()).accounts);
}

/** The managed namespaces and their operators as text. */
export async function namespacesText(ports: Pick<BootstrapPorts, 'namespaces'>): Promise<string> {
  return textTable(
    ['NAMESPACE', 'OPERATORS'],
    (await ports.namespaces.listManaged()).map((n) => [n.namespace, n.operators.join(', ')]),
  );
}
