"""Where an image's filesystem comes from (engine, registry, archives) and how it is flattened.

Sources open an image as layers (``model.OpenedImage``); ``flatten`` reads them into one tree of
blob ids. The package knows nothing of git: blobs go to the ``blobs.BlobStore`` its caller gives.
"""
