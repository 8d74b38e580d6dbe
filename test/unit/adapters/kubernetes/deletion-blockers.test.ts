/** What a terminating namespace waits for, read from the namespace controller's conditions. */
import { describe, expect, it } from 'vitest';
import { deletionBlockers } from '../../../../shared/adapters/kubernetes/cluster.ts';

describe('deletionBlockers', () => {
  it('names the True deletion conditions and leaves out the False ones and unrelated conditions', () => {
    const conditions = [
      {
        type: 'NamespaceDeletionDiscoveryFailure',
        status: 'False',
        message: 'All resources successfully discovered',
      },
      {
        type: 'NamespaceContentRemaining',
        status: 'True',
        message: 'Some resources are remaining: configmaps. has 1 resource instances',
      },
      {
        type: 'NamespaceFinalizersRemaining',
        status: 'True',
        message:
          'Some content in the namespace has finalizers remaining: example.com/drain in 1 resource instances',
      },
      { type: 'SomethingElse', status: 'True', message: 'not about deletion' },
    ];
    expect(deletionBlockers(conditions)).toEqual([
      'Some resources are remaining: configmaps. has 1 resource instances',
      'Some content in the namespace has finalizers remaining: example.com/drain in 1 resource instances',
    ]);
  });

  it('names nothing while every deletion condition is False (the controller found nothing left)', () => {
    expect(
      deletionBlockers([
        { type: 'NamespaceContentRemaining', status: 'False', message: 'All content successfully removed' },
        {
          type: 'NamespaceFinalizersRemaining',
          status: 'False',
          message: 'All content-preserving finalizers finished',
        },
      ]),
    ).toEqual([]);
  });
});
