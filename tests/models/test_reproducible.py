"""The model tool is reproducible: worker/models/fetch_models.sh run twice, into two fresh
folders at different paths and from different working directories, writes byte-identical
repositories (every model.pt, manifest.json, golden image and build stamp). Prints each
file's sha256 from both runs.

  /usr/bin/python3 -m unittest -v tests/models/test_reproducible.py    # ~2 min, 1 core

Downloads come from the shared cache (${GENFARM_CACHE:-~/.cache/genfarm}/npm): the pinned
tarballs are sha256-checked either way, so a fresh cache would only add download time.
"""

import hashlib
import os
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FETCH = os.path.join(REPO, "worker", "models", "fetch_models.sh")


def tree_sha256(root: str) -> dict:
    """relative path -> sha256 of every file under root, except the run's lock file."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if rel == ".fetch.lock":
                continue
            with open(path, "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


class ReproducibleTest(unittest.TestCase):
    def test_two_fresh_runs_are_byte_identical(self):
        with tempfile.TemporaryDirectory(prefix="genfarm-repro-") as tmp:
            first = os.path.join(tmp, "a")
            second = os.path.join(tmp, "b", "nested", "models")
            env = dict(os.environ)
            env.pop("PYTHONHASHSEED", None)  # the tool must pin it itself
            subprocess.run(["bash", FETCH, first], check=True, cwd=REPO, env=env)
            subprocess.run(["bash", FETCH, second], check=True, cwd=tmp, env=env)
            a, b = tree_sha256(first), tree_sha256(second)

        print()
        for rel in sorted(set(a) | set(b)):
            mark = "same" if a.get(rel) == b.get(rel) else "DIFFERENT"
            print(f"{mark:9}  {rel:40}  {a.get(rel, '(missing)')}  {b.get(rel, '(missing)')}")
        self.assertEqual(sorted(a), sorted(b), "the two runs wrote different files")
        self.assertTrue(any(rel.endswith("model.pt") for rel in a), "no model.pt written")
        differing = [rel for rel in a if a[rel] != b[rel]]
        self.assertEqual(differing, [], "files whose bytes differ between the two runs")


if __name__ == "__main__":
    unittest.main()
