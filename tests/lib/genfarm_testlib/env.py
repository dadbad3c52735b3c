"""Where things are, from the environment ctest sets (defaults suit <source>/build).

  GENFARM_BIN_DIR     build tree (scheduler/genfarm-scheduler, worker/genfarm-worker, client/genfarm,
                      python/ with the generated stubs)
  GENFARM_SOURCE_DIR  source tree
  GENFARM_MODELS      model repository (default <source>/var/models)
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(os.path.dirname(_HERE))
SOURCE_DIR = os.environ.get("GENFARM_SOURCE_DIR") or os.path.dirname(TESTS_DIR)
BIN_DIR = os.environ.get("GENFARM_BIN_DIR") or os.path.join(SOURCE_DIR, "build")
MODELS = os.environ.get("GENFARM_MODELS") or os.path.join(SOURCE_DIR, "var", "models")
PYTHON = "/usr/bin/python3"  # Debian's grpcio, protobuf, OpenImageIO and torch live here
RPC_TIMEOUT = 10  # seconds; every RPC a test makes has a deadline

_py_dir = os.path.join(BIN_DIR, "python")
if os.path.isdir(_py_dir) and _py_dir not in sys.path:
    sys.path.insert(0, _py_dir)


def binary(*parts):
    """The built executable BIN_DIR/parts; FileNotFoundError (saying to build it) if missing."""
    path = os.path.join(BIN_DIR, *parts)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{path} is not built (GENFARM_BIN_DIR={BIN_DIR}): build it first")
    return path
