/**
 * The plan as readable lines in the dry-run style kept for compatibility (docs/compatibility.md):
 * `[DRY-RUN] Would create role: x`, Python list and set notation for roles; rotations, CONNECT and table
 * privileges get lines in the same style. Applied runs use the same words without the prefix ("Created
 * user: ...").
 */
import type { Plan, Step } from './plan.ts';

/** Python's repr of a string: single quotes unless the text holds one and no double quote. */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = s.replaceAll('\\', '\\\\').replaceAll(quote, `\\${quote}`);
  return `${quote}${body}${quote}`;
}

const pyList = (items: readonly string[]) => `[${items.map(pyRepr).join(', ')}]`;
const pySet = (items: readonly string[]) => `{${items.map(pyRepr).join(', ')}}`;

interface Index {
  /** Roles granted to each user in this plan. */
  readonly grants: ReadonlyMap<string, readonly string[]>;
  readonly created: ReadonlySet<string>;
}

function wouldLine(step: Step, index: Index): string | undefined {
  switch (step.op) {
    case 'create-role':
      return `Would create role: ${step.role}`;
    case 'create-user':
      return `Would create user: ${step.user} with roles ${pyList(index.grants.get(step.user) ?? [])}`;
    case 'alter-user':
      return `Would alter user ${step.user}: ${Object.entries(step.changes)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ')}`;
    case 'set-password':
      return `Would rotate password of ${step.user} (Secret ${step.secret} changed)`;
    case 'refresh-marker':
      return undefined;
    case 'grant-roles':
      // The roles of a new user are on its create line.
      return index.created.has(step.user)
        ? undefined
        : `Would grant roles to ${step.user}: ${pySet(step.roles)}`;
    case 'revoke-roles':
      return `Would revoke roles from ${step.user}: ${pySet(step.roles)}`;
    case 'grant-connect':
      return `Would grant CONNECT on database ${step.database} to ${step.user}`;
    case 'revoke-connect':
      return `Would revoke CONNECT on database ${step.database} from ${step.user}`;
    case 'grant-privileges':
      return `Would grant ${step.privileges.join(', ')} on ${step.schema}.${step.table} to ${step.user}`;
    case 'revoke-privileges':
      return `Would revoke ${step.privileges.join(', ')} on ${step.schema}.${step.table} from ${step.user}`;
    case 'drop-user':
      return `Would drop user: ${step.user}`;
  }
}

const applied: [RegExp, string][] = [
  [/^Would create /, 'Created '],
  [/^Would alter /, 'Altered '],
  [/^Would rotate /, 'Rotated '],
  [/^Would grant /, 'Granted '],
  [/^Would revoke /, 'Revoked '],
  [/^Would drop /, 'Dropped '],
];

/** One line per change; dry-run lines carry the `[DRY-RUN] ` prefix. */
export function describePlan(plan: Plan, dryRun: boolean): string[] {
  const lines: string[] = [];
  const index: Index = {
    grants: new Map(plan.steps.flatMap((s) => (s.op === 'grant-roles' ? [[s.user, s.roles] as const] : []))),
    created: new Set(plan.steps.flatMap((s) => (s.op === 'create-user' ? [s.user] : []))),
  };
  for (const step of plan.steps) {
    const line = wouldLine(step, index);
    if (line === undefined) continue;
    if (dryRun) lines.push(`[DRY-RUN] ${line}`);
    else lines.push(applied.reduce((text, [re, to]) => text.replace(re, to), line));
  }
  for (const s of plan.skipped) lines.push(`Skipped user ${s.username}: ${s.message}`);
  for (const p of plan.problems) lines.push(`Problem with ${p.username}: ${p.message}`);
  if (plan.refusedDrops !== undefined) lines.push(`Not dropped: ${plan.refusedDrops.message}`);
  lines.push(
    plan.summary.drift_detected > 0
      ? `Drift detected: ${plan.summary.drift_detected} changes needed`
      : 'No drift detected - system in desired state',
  );
  return lines;
}
