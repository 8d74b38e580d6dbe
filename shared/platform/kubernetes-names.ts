/**
 * The Kubernetes name rules the functions check at their door, defined once. Two label rules are in use,
 * side by side on purpose:
 * - DNS_LABEL (RFC 1123 label: lower-case letters, digits and '-', a letter or digit at each end, at most
 *   63): tenant names and the namespaces of the tenant functions, as the apiserver checks a namespace name;
 * - RFC1035_LABEL (the same, but starting with a letter): Everest's rule for its database namespaces
 *   (everestctl refuses a leading digit), used by bootstrap and enforce.
 * DNS_SUBDOMAIN (at most 253 of lower-case letters, digits, '-' and '.', a letter or digit at each end) is
 * looser than the apiserver's subdomain rule, which also refuses empty labels ("a..b"); such a name is
 * then refused by the apiserver itself.
 */

/** The longest DNS label (a namespace name). */
export const DNS_LABEL_MAX_LENGTH = 63;

const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
const SUBDOMAIN = '[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?';

/** RFC 1123 label: a namespace or tenant name. */
export const DNS_LABEL = new RegExp(`^${LABEL}$`);
/** RFC 1035 label: a label that starts with a letter (Everest's database namespaces). */
export const RFC1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** An object name such as a Secret's or a service account's. */
export const DNS_SUBDOMAIN = new RegExp(`^${SUBDOMAIN}$`);
/** `system:serviceaccount:<namespace>:<name>`: a namespace is a DNS label, a name a DNS subdomain. */
export const SERVICE_ACCOUNT_SUBJECT = new RegExp(`^system:serviceaccount:${LABEL}:${SUBDOMAIN}$`);
