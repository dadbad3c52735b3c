"""Reproducible TorchScript files: the same module gives the same model.pt bytes on any
host, from any checkout, into any output path (so workers that built their repositories
separately stamp the same genfarm:model_sha256 for the same weights).

  from torchscript_io import pin_hash_seed, save_reproducible
  pin_hash_seed()                          # first thing in a converter's __main__
  sha = save_reproducible(torch.jit.script(module), "out/model.pt")

What torch.jit.save (torch 1.13) lets vary, found by converting twice and diffing the zips:
  - the order of class constants in code/**/*.py (e.g. Conv2d's __constants__, a Python
    set), which follows str hashing, i.e. PYTHONHASHSEED: pin_hash_seed() re-executes the
    converter with PYTHONHASHSEED=0 when it is not set so;
  - code/**/*.py.debug_pkl: source ranges of the converter's Python code, with its
    absolute path (/home/a/genfarm/worker/models/...) and line numbers, so another
    checkout or an edited comment changed the model's sha256. They only feed TorchScript
    error tracebacks (LibTorch loads without them; errors then point into the serialized
    code/ instead), so save_reproducible drops them;
  - the archive's top-level folder, named after the output file: written through a
    buffer it is always "archive".
Entry timestamps are already fixed by torch (1980-01-01) and entry order follows the
module structure, which the rewrite keeps.
"""

import hashlib
import io
import os
import sys

import torch


def pin_hash_seed() -> None:
    """Re-executes this interpreter with PYTHONHASHSEED=0 unless it already runs so."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def reproducible_bytes(saved: bytes) -> bytes:
    """Rewrites a torch.jit.save archive without its debug records, under a fixed name."""
    reader = torch._C.PyTorchFileReader(io.BytesIO(saved))
    records = reader.get_all_records()
    # Format version 6+ files keep it in ".data/version", older ones in "version"; the
    # writer puts it back under the right name in write_end_of_file().
    version_records = [r for r in ("version", ".data/version") if r in records]
    if len(version_records) != 1:
        raise RuntimeError(f"TorchScript archive has version records {version_records}")
    version = int(reader.get_record(version_records[0]).decode().strip())
    out = io.BytesIO()
    # torch's own writer, so records keep the 64-byte alignment LibTorch expects.
    writer = torch._C.PyTorchFileWriter(out)
    writer.set_min_version(version)
    for name in records:
        if name.endswith(".debug_pkl") or name in version_records:
            continue
        data = reader.get_record(name)
        writer.write_record(name, data, len(data))
    writer.write_end_of_file()
    del writer
    return out.getvalue()


def save_reproducible(module: torch.jit.ScriptModule, path: str) -> str:
    """Saves `module` to `path` reproducibly (see the module docstring); returns its sha256."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        raise RuntimeError("save_reproducible needs PYTHONHASHSEED=0 (call pin_hash_seed())")
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    data = reproducible_bytes(buffer.getvalue())
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()
