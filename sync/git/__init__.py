"""The git adapter: the one place that talks to pygit2.

``repo`` opens repositories, reads and moves refs (compare-and-swap) and writes commits;
``objects`` streams blobs into the object database and builds trees; ``worktree`` and ``index``
write the work tree and the index.
"""
