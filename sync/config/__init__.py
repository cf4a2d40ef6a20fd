"""The project's configuration (upstream-manifest.yaml, VERSION), validated once, frozen.

``config.manifest`` reads the manifest (its ``variants:`` section through ``config.variants``),
``config.version`` the community version; ``config.reader`` is the YAML walker both share so that
every error names the file, the key and its line. Nothing here touches git, Docker or the network.
"""

# at the top of the work tree; here, so that naming it does not load the YAML parser
MANIFEST_NAME = "upstream-manifest.yaml"
