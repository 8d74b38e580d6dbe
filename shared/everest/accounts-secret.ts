/**
 * The accounts Secret (everest-system/everest-accounts) read and changed as Everest's CLI does, but safely
 * against concurrent writers (the adapter's read-modify-write): each change is computed by accounts.ts from
 * the Secret as read. The salt of every hash is the everest-system Namespace's UID, read once per instance.
 */
import type { RawKubernetes } from '../adapters/kubernetes/raw.ts';
import type { StoredObject } from '../adapters/kubernetes/read-modify-write.ts';
import type { ObjectRef } from '../adapters/kubernetes/resource-path.ts';
import { PlatformError } from '../platform/errors.ts';
import {
  ACCOUNTS_KEY,
  ACCOUNTS_SECRET,
  EVEREST_NAMESPACE,
  everestSystemObject,
  parseAccounts,
  serializeAccounts,
  type AccountsDocument,
} from './accounts.ts';

/** What the accounts need of the apiserver: one object read, and read-modify-write. */
export type AccountsSecretApi = Pick<RawKubernetes, 'get' | 'readModifyWrite'>;

const ACCOUNTS_SECRET_REF = everestSystemObject('secrets', ACCOUNTS_SECRET);
const EVEREST_NAMESPACE_REF: ObjectRef = {
  group: '',
  version: 'v1',
  resource: 'namespaces',
  name: EVEREST_NAMESPACE,
};

interface SecretObject extends StoredObject {
  readonly data?: Readonly<Record<string, string>>;
}

function documentOf(secret: SecretObject | undefined): AccountsDocument {
  const encoded = secret?.data?.[ACCOUNTS_KEY];
  return {
    accounts: parseAccounts(encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString()),
    annotations: secret?.metadata.annotations ?? {},
  };
}

function secretOf(current: SecretObject | undefined, doc: AccountsDocument): SecretObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    ...current,
    metadata: {
      ...current?.metadata,
      name: ACCOUNTS_SECRET,
      namespace: EVEREST_NAMESPACE,
      annotations: doc.annotations,
    },
    data: {
      ...current?.data,
      [ACCOUNTS_KEY]: Buffer.from(serializeAccounts(doc.accounts)).toString('base64'),
    },
  };
}

export class EverestAccounts {
  private readonly api: AccountsSecretApi;
  private salt: string | undefined;

  constructor(api: AccountsSecretApi) {
    this.api = api;
  }

  /** The everest-system Namespace UID, the salt of every password hash; 409 when Everest is not installed. */
  async passwordSalt(): Promise<string> {
    if (this.salt !== undefined) return this.salt;
    const ns = await this.api.get(EVEREST_NAMESPACE_REF, `read ${EVEREST_NAMESPACE}`);
    const uid = ns?.metadata.uid;
    if (uid === undefined)
      throw new PlatformError({
        reason: 'conflict',
        message: `Everest is not installed: namespace ${EVEREST_NAMESPACE} does not exist`,
      });
    this.salt = uid;
    return uid;
  }

  async read(): Promise<AccountsDocument> {
    return documentOf(await this.api.get<SecretObject>(ACCOUNTS_SECRET_REF, 'read Everest accounts'));
  }

  /**
   * Applies `change` to the accounts as stored, retrying on concurrent writes; `change` answers the new
   * document (or undefined: nothing to write) and a result.
   */
  async update<R>(
    action: string,
    change: (doc: AccountsDocument) => { doc?: AccountsDocument; result: R },
  ): Promise<R> {
    return this.api.readModifyWrite({
      object: ACCOUNTS_SECRET_REF,
      action,
      change: (current) => {
        const secret: SecretObject | undefined = current;
        const { doc, result } = change(documentOf(secret));
        return doc === undefined ? { result } : { write: secretOf(secret, doc), result };
      },
    });
  }
}
