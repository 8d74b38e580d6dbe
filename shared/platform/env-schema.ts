/**
 * The schemas of environment variables, in zod's mini flavour: the configuration is checked before a
 * function listens, and zod/mini costs about nothing to load where classic zod costs about 20 ms of every
 * cold start (the operations' request schemas, loaded after, stay classic). English messages, as classic
 * zod gives them. A few combinators keep the config files readable.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

export { z };

/** The shape of a function's variables: name -> schema. */
export type EnvShape = z.core.$ZodShape;

/** A non-empty string. */
export const nonEmpty = () => z.string().check(z.minLength(1));

/** A string of at most `max` characters, at least one. */
export const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));

/** An integer from min to max, from its decimal text. */
export const integer = (min: number, max: number) => z.coerce.number().check(z.int(), z.gte(min), z.lte(max));

/** A number from min to max, from its decimal text (a share: 0 to 1). */
export const between = (min: number, max: number) => z.coerce.number().check(z.gte(min), z.lte(max));

/** "true"/"false"/"1"/"0"/"yes"/"no"/"on"/"off", case-insensitive. */
export const envBoolean = () => z.stringbool();

/** A comma-separated list; blanks around items and empty items are dropped. */
export const commaList = () =>
  z.pipe(
    z.string(),
    z.transform((v) =>
      v
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    ),
  );

export const optional = z.optional;
/** The schema, or `value` when the variable is unset. */
export const withDefault = z._default;
