"""The plugin host API version, apart so that naming it loads nothing else."""

#: Version of the contract between the host and plugins (manifest + run contract).
#: A plugin written for ``M.m`` runs on a host ``M.n`` with ``n >= m``.
HOST_API_VERSION = "1.0"
