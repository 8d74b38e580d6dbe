/**
 * The memberships and CONNECT grants of every role, as the catalog's first query sends them packed, looked
 * up by role oid. Memberships arrive as one bytea of (member oid, role oid) pairs, each a big-endian
 * uint32; CONNECT grants as one string of grantee oids per database.
 *
 * At 10,000 roles that is 20,000 memberships and 10,000 grants per run, and a string, array or map entry
 * per pair would cost the client more than the query itself (allocation and garbage collection on every
 * no-op run). So the pairs are kept as sorted numbers `oid * 2^21 + index of the name in name order` in one
 * Float64Array and found by binary search: each role's names come out sorted, in an array of their exact
 * size, and a role without any gets one shared empty array.
 */

/** The names related to each role oid: the roles it is a member of, or the databases it may connect to. */
export interface NamesByOid {
  /** The names of `oid`, sorted, each once; the same empty array for every oid without any. */
  namesOf(oid: number): readonly string[];
}

const NONE: readonly string[] = [];

/** Room for the name index below each oid; oids are below 2^32, so every key stays an exact double. */
const SHIFT = 2 ** 21;

class SortedPairs implements NamesByOid {
  private readonly keys: Float64Array;
  private readonly names: readonly string[];

  /**
   * `names` sorted and distinct (fewer than 2^21); `fill(add)` calls `add(oid, index of its name)` once
   * per pair, `count` times in all.
   */
  constructor(
    count: number,
    names: readonly string[],
    fill: (add: (oid: number, index: number) => void) => void,
  ) {
    if (names.length >= SHIFT) throw new Error(`too many distinct names (${names.length})`);
    this.names = names;
    const keys = new Float64Array(count);
    let k = 0;
    fill((oid, index) => {
      keys[k++] = oid * SHIFT + index;
    });
    this.keys = keys.sort();
  }

  namesOf(oid: number): readonly string[] {
    const { keys, names } = this;
    const first = oid * SHIFT;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] ?? 0) < first) lo = mid + 1;
      else hi = mid;
    }
    const end = first + SHIFT;
    hi = lo;
    while (hi < keys.length && (keys[hi] ?? end) < end) hi++;
    // Mostly one or two names: arrays of their exact size (push would reserve room for more). A pair may
    // come twice (a membership granted by two grantors): equal neighbours are one name.
    if (hi === lo) return NONE;
    const a = names[(keys[lo] ?? 0) - first] ?? '';
    if (hi === lo + 1) return [a];
    if (hi === lo + 2 && keys[lo] !== keys[lo + 1]) return [a, names[(keys[lo + 1] ?? 0) - first] ?? ''];
    const out = [a];
    for (let i = lo + 1; i < hi; i++)
      if (keys[i] !== keys[i - 1]) out.push(names[(keys[i] ?? 0) - first] ?? '');
    return out;
  }
}

/** Numbers the distinct values in name order: the sorted names and each value's index among them. */
function numbered(values: Iterable<string>): { names: string[]; index: Map<string, number> } {
  const names = [...new Set(values)].sort();
  return { names, index: new Map(names.map((n, i) => [n, i])) };
}

/** The big-endian uint32s of a bytea (oids). */
function uint32s(bytes: Buffer | null): Float64Array {
  const out = new Float64Array(bytes === null ? 0 : bytes.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes?.readUInt32BE(i * 4) ?? 0;
  return out;
}

/** The numbers in a string of digits and single spaces (oids): no string and no array growth per oid. */
export function oidList(text: string | null): Float64Array {
  if (text === null || text.length === 0) return new Float64Array(0);
  let count = 1;
  for (let i = text.indexOf(' '); i >= 0; i = text.indexOf(' ', i + 1)) count++;
  const out = new Float64Array(count);
  let k = 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32) {
      out[k++] = n;
      n = 0;
    } else n = n * 10 + (c - 48);
  }
  out[k] = n;
  return out;
}

/**
 * The roles each role is a member of, from the (member oid, role oid) pairs. The granted roles (a few) are
 * named from the roles' rows: `roleOids[i]` is the oid of `roleNames[i]`; a granted role that is not among
 * them (made between the two queries) is named by its oid.
 */
export function membershipsByMember(
  members: Buffer | null,
  roleOids: readonly number[],
  roleNames: readonly string[],
): NamesByOid {
  const pairs = uint32s(members);
  const grantedName = new Map<number, string>();
  for (let i = 1; i < pairs.length; i += 2) grantedName.set(pairs[i] ?? 0, '');
  for (let i = 0; i < roleOids.length; i++) {
    const oid = roleOids[i] ?? 0;
    if (grantedName.has(oid)) grantedName.set(oid, roleNames[i] ?? '');
  }
  for (const [oid, name] of grantedName) if (name === '') grantedName.set(oid, String(oid));
  const granted = numbered(grantedName.values());
  return new SortedPairs(pairs.length >> 1, granted.names, (add) => {
    for (let i = 0; i + 1 < pairs.length; i += 2)
      add(pairs[i] ?? 0, granted.index.get(grantedName.get(pairs[i + 1] ?? 0) ?? '') ?? 0);
  });
}

/** The databases each role has an explicit CONNECT grant on, from database -> `grantee oid ...`. */
export function connectGrantsByGrantee(connects: Readonly<Record<string, string>> | null): NamesByOid {
  const grants = Object.entries(connects ?? {}).map(([database, list]) => ({
    database,
    grantees: oidList(list),
  }));
  const databases = numbered(grants.map((g) => g.database));
  return new SortedPairs(
    grants.reduce((n, g) => n + g.grantees.length, 0),
    databases.names,
    (add) => {
      for (const { database, grantees } of grants) {
        const index = databases.index.get(database) ?? 0;
        for (const grantee of grantees) add(grantee, index);
      }
    },
  );
}
