/**
 * The schemas of environment variables, in zod's mini flavour: the configuration is checked before a
 * function listens, and zod/mini costs about nothing to load where classic zod costs about 20 ms of every
 * cold start (the operations' request schemas, loaded after, stay classic). English messages, as classic
 * zod gives them. A few combinators keep the config files readable. The namespace is exported as `zMini`, so
 * that a schema in this dialect is never mistaken for a request schema's classic `z`.
 */
import * as zMini from 'zod/mini';
import en from 'zod/v4/locales/en.js';

zMini.config(en());

export { zMini };

/** The shape of a function's variables: name -> schema. */
export type EnvShape = zMini.core.$ZodShape;

/** A non-empty string. */
export const nonEmpty = () => zMini.string().check(zMini.minLength(1));

/** A string of at most `max` characters, at least one. */
export const text = (max: number) => zMini.string().check(zMini.minLength(1), zMini.maxLength(max));

/** An integer from min to max, from its decimal text. */
export const integer = (min: number, max: number) =>
  zMini.coerce.number().check(zMini.int(), zMini.gte(min), zMini.lte(max));

/** A number from min to max, from its decimal text (a share: 0 to 1). */
export const between = (min: number, max: number) =>
  zMini.coerce.number().check(zMini.gte(min), zMini.lte(max));

/** "true"/"false"/"1"/"0"/"yes"/"no"/"on"/"off", case-insensitive. */
export const envBoolean = () => zMini.stringbool();

/** A comma-separated list; blanks around items and empty items are dropped. */
export const commaList = () =>
  zMini.pipe(
    zMini.string(),
    zMini.transform((v) =>
      v
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    ),
  );

export const optional = zMini.optional;
/** The schema, or `value` when the variable is unset. */
export const withDefault = zMini._default;
