/**
 * Tenant names: one string derived from the request is the Keycloak username, the namespace, the
 * RoleBinding name and the Grafana login, derived as k8s-user-provisioner derived it, so that its tenants
 * keep their names (docs/compatibility.md):
 *   email present: its local part, "." -> "_", then slugified (john.doe@x -> john-doe);
 *   otherwise: full_name, spaces -> "_", lower-cased, then slugified (Jean Dupont -> jean-dupont).
 * slugify as python-slugify does: transliteration to ASCII, "'" -> "-", a comma between digits removed,
 * every run of other characters -> "-", dashes collapsed and trimmed. The result must also be a DNS-1123
 * label (at most 63 characters, long names cut with a short stable hash), never empty, and not reserved.
 */
import { createHash } from 'node:crypto';
import anyAscii from 'any-ascii';
import { PlatformError } from '../platform/errors.ts';
import { DNS_LABEL_MAX_LENGTH } from '../platform/kubernetes-names.ts';
import { isReserved, type ReservedNames } from '../platform/reserved-names.ts';

export const MAX_NAME_LENGTH = DNS_LABEL_MAX_LENGTH;
const HASH_LENGTH = 8;

/** Scripts that unidecode writes syllable by syllable ("李小龙" -> "Li Xiao Long"). */
const SYLLABIC = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
/** any-ascii spells emoji as ":name:"; unidecode drops them, and so do we. */
const EMOJI_NAME = /^:[\w+-]+:$/;

/** ASCII transliteration, character by character, matching unidecode where the two differ. */
export function transliterate(text: string): string {
  let out = '';
  for (const char of text) {
    if (char.charCodeAt(0) < 0x80) {
      out += char;
      continue;
    }
    const ascii = anyAscii(char);
    if (EMOJI_NAME.test(ascii)) continue;
    out += SYLLABIC.test(char) ? `${ascii} ` : ascii;
  }
  return out;
}

/** python-slugify's defaults, without its (absent) length limit. */
export function slugify(text: string): string {
  return transliterate(text)
    .toLowerCase()
    .replaceAll("'", '-')
    .replace(/(\d),(\d)/g, '$1$2')
    .replace(/[^-a-z0-9]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-|-$/g, '');
}

/** At most 63 characters: a longer slug keeps its start and ends with a hash of the whole, so it stays unique. */
export function toDnsLabel(slug: string): string {
  if (slug.length <= MAX_NAME_LENGTH) return slug;
  const hash = createHash('sha256').update(slug).digest('hex').slice(0, HASH_LENGTH);
  const head = slug.slice(0, MAX_NAME_LENGTH - HASH_LENGTH - 1).replace(/-+$/, '');
  return `${head}-${hash}`;
}

export interface NameRequest {
  readonly email?: string | undefined;
  readonly fullName?: string | undefined;
}

/** The email's local part wins, else the full name. Undefined when both are empty. */
export function requestSlug(request: NameRequest): string | undefined {
  const email = request.email?.trim();
  if (email) return slugify((email.split('@')[0] ?? '').replaceAll('.', '_'));
  const fullName = request.fullName?.trim();
  if (fullName) return slugify(fullName.replaceAll(' ', '_').toLowerCase());
  return undefined;
}

export { builtinReservedNames, isReserved, type ReservedNames } from '../platform/reserved-names.ts';

/**
 * The tenant name for a request, or a 400: both fields missing (the message callers know), nothing usable
 * left after slugifying, or a reserved name.
 */
export function tenantName(request: NameRequest, reserved: ReservedNames): string {
  const slug = requestSlug(request);
  if (slug === undefined) {
    throw new PlatformError({ reason: 'validation', message: 'Email address and full name are missing' });
  }
  if (slug === '') {
    throw new PlatformError({
      reason: 'validation',
      message: 'the email local part or full name contains no letters or digits to build a tenant name from',
    });
  }
  const name = toDnsLabel(slug);
  if (isReserved(name, reserved)) {
    throw new PlatformError({
      reason: 'validation',
      message: `"${name}" is a reserved name and cannot be a tenant`,
    });
  }
  return name;
}
