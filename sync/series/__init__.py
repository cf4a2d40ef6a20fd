"""The patch series: ``patches/series`` and its patch files, applied in memory on git trees.

Modules, from the bytes up:

- ``seriesfile`` quilt's series format (plus the ``# upstream: <commit>`` base record);
- ``parse`` / ``mail`` / ``binary`` / ``paths`` patch files -> ``model.Patch``;
- ``hunks`` placing hunks (exact, offset, fuzz, already there);
- ``overlay`` a tree being patched, in memory; ``apply`` one patch onto it (with 3-way);
- ``engine`` a whole series onto a new upstream, with the old chain for 3-way bases;
- ``refresh`` / ``patchid`` canonical, churn-free rewriting of patch files;
- ``load`` reading a series out of a tree; ``state`` the resumable rebase state.
"""
